"""The contract between golden and hw: torch-free definitions that both sides build from.

Everything here is plain Python and numpy (never torch): the model file and its config, the
normalisation constants, the RR-code arithmetic and the R-peak detector's constants. ``ternecg.hw``
imports only this package (and :mod:`ternecg.errors`); the PyTorch integer reference in
:mod:`ternecg.golden` and the checkers in :mod:`ternecg.sim` build on it too.
"""
