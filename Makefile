# ternecg: every user-facing command. `make help` lists them; each job is a `ternecg` subcommand
# (`ternecg --help`, `ternecg SUBCOMMAND --help`). DB=<folder> points every job at the MIT-BIH database.
PY      ?= .venv/bin/python
VENV    ?= .venv
MODEL   ?= models/default.json
PARALLEL ?= 1
SEED    ?= 0
BOARD   ?= icebreaker
PORT    ?= /dev/ttyUSB1
RECORD  ?= 100
DB      ?=
# every job below is a `ternecg` subcommand (ternecg/cli.py); `make X` only adds the variables
TERNECG ?= $(PY) -m ternecg.cli
DBARG    = $(if $(DB),--db $(DB))
# APP=monitor: the live monitor's build (build/BOARD-monitor/) for synth, patch and program
APPARG   = $(if $(APP),--app $(APP))

.PHONY: help setup test test-long test-all test-fpga test-fast demo sim sim-regress sim-monitor monitor-report link-report sim-gate fuzz eval results train train-table rr-experiment fixture fixture-excerpts qrs-eval qrs-select monitor-eval annotate aami4-select aami4-operating aami4-rhythm aami4-rule aami4-template aami4-irregular aami4-longterm aami4-operating-ds2 aami4-seeds morph-probe verilog hw-report cycles asic-report synth patch program host monitor clean

help:            ## list the targets
	@awk -F':.*## ' '/^[a-z0-9-]+:.*## /{printf "%-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup:           ## install system packages (apt, when missing), the venv and warm the YoWASP cache
	@if ! command -v iverilog >/dev/null 2>&1 || ! command -v ccache >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	    $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq iverilog libusb-1.0-0 libftdi1-2 ccache; \
	  else echo "setup: install iverilog, libusb-1.0-0, libftdi1-2 and ccache with your package manager" >&2; exit 1; fi; fi
	python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e .
	$(TERNECG) warm

test:            ## the test suite (golden, hardware, simulation, boards) on two pytest-xdist workers, all but the long runs (test-long) and the FPGA builds (test-fpga); under 12 minutes
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not fpga and not long" $(PYTEST_ARGS)

test-long:       ## the long runs: both board cores end to end through the host, and the second simulator, lane count or model of checks that make test runs once (~6 min)
	$(PY) -m pytest -q -n 2 --dist loadfile -m "long and not fpga" $(PYTEST_ARGS)

test-all:        ## make test, make test-long and make test-fpga (what CI runs)
	$(MAKE) test
	$(MAKE) test-long
	$(MAKE) test-fpga

test-fpga:       ## the tests that build bitstreams or a gate-level netlist or simulate the iCE40 cell models (patching on both boards, the monitor's patch, the gate-level run, the board core with its SPRAMs; ~5 min)
	$(PY) -m pytest -q -n 2 --dist loadfile -m "fpga" $(PYTEST_ARGS)

test-fast:       ## tests that need neither the database nor a Verilog simulator (markers: pyproject.toml)
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not sim and not slow and not long" $(PYTEST_ARGS)

demo:            ## the main job: Verilog, cocotb bit-exact check on the fixture beats, iCEBreaker bitstream
	$(TERNECG) demo --parallel $(PARALLEL) --board $(BOARD)

sim:             ## only the tests that run a Verilog simulator (marker sim): components, whole network, harness, board
	$(PY) -m pytest -q -n 2 --dist loadfile -m "sim"

sim-regress:     ## every DS2 test beat on its patient model and every DS2 beat on the inter-patient (RR) model, Verilator harness (+ Icarus subset) -> build/reports/regress.json (~8 min; LIMIT=N: quick)
	$(TERNECG) sim-regress $(if $(LIMIT),--limit $(LIMIT)) $(DBARG)

sim-monitor:     ## R-peak detector on all 48 whole records and the monitor on every DS2 record, Verilator harness vs golden -> build/reports/monitor_regress.json (LIMIT=N: quick)
	$(TERNECG) sim-monitor $(if $(LIMIT),--limit $(LIMIT)) $(DBARG)

monitor-report:  ## the monitor's front end (R-peak detector, RR codes, beat window) alone on the iCE40 UP5K: LC/EBR per module, cycles per sample -> build/reports/monitor_report.json
	$(TERNECG) monitor-report

sim-gate:        ## gate level: synth_ice40 netlist + iCE40 cell models vs golden, 302 beats Verilator + BEATS=100 Icarus (~15 min)
	$(TERNECG) sim-gate --beats $(or $(BEATS),100)

fuzz:            ## protocol fuzz: the board core in Verilator against 100,000 bytes of random and damaged frames (+ 5,000 through the real UART) -> build/reports/fuzz.json (BYTES=, FUZZ_SEED=)
	$(TERNECG) fuzz $(if $(BYTES),--bytes $(BYTES)) $(if $(FUZZ_SEED),--stimulus-seed $(FUZZ_SEED))

eval:            ## evaluate the shipped model files -> build/reports/eval.json + confusion PNG
	$(TERNECG) eval $(DBARG)

results:         ## docs/results.md + plot from the shipped models, results/*.json and build/reports/{qrs,train}.json (needs the database; refuses to drop figures whose report is missing unless KEEP=1 (keep them as they are) or PARTIAL=1 (placeholders))
	$(TERNECG) results $(if $(PARTIAL),--partial) $(if $(KEEP),--keep) $(DBARG)

train-table:     ## the MSGC paper's Table I runs -> results/table1_KIND.json, KIND=float|integer (long; resumable)
	$(TERNECG) train-table --kind $(or $(KIND),float) $(DBARG)

rr-experiment:   ## DS1->DS2 with/without RR-interval codes beside the beat -> results/rr_experiment.json (KIND=qat|float NO_RR=1 LOCAL=32, ~7 min per run)
	$(TERNECG) rr-experiment --kind $(or $(KIND),qat) --epochs $(or $(EPOCHS),30) --seed $(SEED) --local $(or $(LOCAL),8) $(if $(NO_RR),--no-rr) $(DBARG)

train:           ## retrain every shipped model file from the database (SEED=, default 0; STAGES=aami4_inter,aami4_patient: a subset); prints the time
	$(TERNECG) train --seed $(SEED) $(if $(STAGES),--stages $(STAGES)) $(DBARG)

fixture:         ## regenerate fixtures/beats.npz from the database and the default model
	$(TERNECG) fixture $(DBARG)

fixture-excerpts: ## regenerate fixtures/excerpts.npz (raw MIT-BIH excerpts for the R-peak detector tests) from the database
	$(TERNECG) fixture-excerpts $(DBARG)

qrs-eval:        ## R-peak detector vs XQRS, GQRS, Pan-Tompkins, Hamilton, NeuroKit2 on all 48 records (EC57) -> build/reports/qrs.json
	$(TERNECG) qrs-eval $(DBARG)

qrs-select:      ## the detector's constants (golden/spec/qrs.py) swept one at a time around the shipped values, scored on the DS1 records only (FN + FP) -> build/reports/qrs_select.json + results/qrs_select.json (83 detector runs: 281 s on the two cores beside other jobs)
	$(TERNECG) qrs-select $(DBARG)

monitor-eval:    ## the software monitor (detector -> windows -> RR codes -> four-class models) on DS2, EC57 scoring, detected vs annotated peaks -> build/reports/monitor_eval.json
	$(TERNECG) monitor-eval $(DBARG)

annotate:        ## the software monitor's beats of RECORD (MODEL=, default models/aami4_inter.json) as WFDB annotations + PNG -> build/annotate/RECORD.mon, .png
	$(TERNECG) annotate --record $(RECORD) $(if $(filter-out models/default.json,$(MODEL)),--model $(MODEL)) $(DBARG)

aami4-select:    ## four-class recipe selection on the DS1 hold-out records -> results/aami4_select.json (VARIANTS=a,b; FOLD=b: the second hold-out; done ones skipped; long)
	$(TERNECG) aami4-select --seed $(SEED) $(if $(VARIANTS),--variants $(VARIANTS)) $(if $(FOLD),--fold $(FOLD)) $(DBARG)

aami4-operating: ## S and V logit-bias offsets of the shipped four-class recipes chosen on the DS1 hold-out (select-phase models, no DS2) -> results/aami4_operating.json + build/reports/ (APPLY=1: write the recipe's offsets into models/ and build/aami4/seeds/)
	$(TERNECG) aami4-operating $(if $(APPLY),--apply) $(DBARG)

aami4-rhythm:    ## the premature offset (RR-table N entries of premature beats) of the shipped four-class recipes chosen on both DS1 hold-out folds, seeds 0-2 (no DS2) -> results/aami4_rhythm.json (APPLY=1: into models/ and build/aami4/seeds/; DS2=1: the shipped models on DS2 with and without it, once, after the choice -> results/aami4_rhythm_ds2.json)
	$(TERNECG) aami4-rhythm $(if $(APPLY),--apply)$(if $(DS2), --ds2) $(DBARG)

aami4-rule:      ## the RR rule (N -> S when pre/local <= t and irregularity <= b) of the shipped four-class recipes, chosen on both DS1 hold-out folds (results/aami4_rule_probe.json of aami4-rhythm --rule-probe) against no rule and the premature offset -> results/aami4_rule.json (APPLY=1: into models/; DS2=1: scored once on DS2 -> results/aami4_rule_ds2.json)
	$(TERNECG) aami4-rule $(if $(APPLY),--apply)$(if $(DS2), --ds2) $(DBARG)

aami4-template:  ## the template rule (a V call shaped like the patient's running average beat becomes N, then the RR rule) of the shipped four-class recipes, chosen on the select-phase models of both DS1 hold-out folds -> results/aami4_template.json (APPLY=1: into models/; DS2=1: the shipped models on DS2 with and without it, once -> results/aami4_template_ds2.json)
	$(TERNECG) aami4-template$(if $(APPLY), --apply)$(if $(DS2), --ds2) $(DBARG)

aami4-irregular: ## an irregular-rhythm rule (an S call whose irregularity code is at least m becomes N, after the shipped rules), measured on the select-phase models of both DS1 hold-out folds -> results/aami4_irregular.json
	$(TERNECG) aami4-irregular $(DBARG)

aami4-longterm:  ## a long-term premature rule (an N call whose pre interval is at most m/8 of the record's long-term average RR, in a regular rhythm, becomes S, after the shipped rules), measured on the select-phase models of both DS1 hold-out folds -> results/aami4_longterm.json
	$(TERNECG) aami4-longterm $(DBARG)

aami4-operating-ds2: ## the shipped four-class models (seeds 0-2 where built) on DS2 with zero and with the applied S and V offsets, scored once after the choice -> results/aami4_operating_ds2.json
	$(TERNECG) aami4-operating-ds2 $(DBARG)

aami4-seeds:     ## the shipped four-class recipes over seeds 0-2 (seed 0 = the shipped models), DS2 monitor-eval of each -> results/aami4_seeds.json (long)
	$(TERNECG) aami4-seeds $(DBARG)

morph-probe:     ## each beat's distance from its patient's running average beat (an integer candidate cue for S against V), per AAMI class with ROC areas, DS1 records only -> build/reports/morph_probe.json (seconds)
	$(TERNECG) morph-probe $(DBARG)

verilog:         ## generate Verilog + manifest for MODEL at PARALLEL into build/verilog/
	$(TERNECG) verilog --model $(MODEL) --parallel $(PARALLEL)

hw-report:       ## synthesize PARALLEL settings for iCE40 UP5K and ECP5 85F, each with its resource estimate -> build/reports/hw.json + hw_pareto.png (SEEDS=3: Fmax of nextpnr seeds 1-3)
	$(TERNECG) hw-report --model $(MODEL)$(if $(SEEDS), --seeds $(SEEDS))

link-report:     ## the serial side (UARTs + link) of the classifier and monitor board cores alone on the iCE40 UP5K: LC, FF, Fmax, LUT4 per part (ABC9) against issue 17's 400 LC -> build/reports/link.json (~1 min)
	$(TERNECG) link-report

cycles:          ## where the accelerator's worst-case cycles per beat go at every lane count 1..64 (bound, tiling, phase ends; the bound ratio against its target), from the schedule alone, seconds -> build/reports/cycles.json
	$(TERNECG) cycles --model $(MODEL)

asic-report:     ## synthesize several PARALLEL settings to generic CMOS gates (Yosys abc -g cmos2: transistors, memory bits, logic depth) -> build/reports/asic.json
	$(TERNECG) asic-report --model $(MODEL)

synth:           ## bitstream for BOARD (icebreaker|ulx3s) with MODEL at PARALLEL + build/BOARD/report.json (APP=monitor: the live monitor, build/BOARD-monitor/, its model by default models/aami4_inter.json)
	$(TERNECG) synth --board $(BOARD) $(APPARG) $(if $(and $(filter monitor,$(APP)),$(filter models/default.json,$(MODEL))),,--model $(MODEL)) --parallel $(PARALLEL)

patch:           ## swap MODEL's parameters into the BOARD build's bitstream in seconds -> build/BOARD/patched/ (APP=monitor: build/BOARD-monitor/patched/)
	$(TERNECG) patch --board $(BOARD) $(APPARG) --model $(MODEL)

program:         ## load the build/BOARD/ bitstream with openFPGALoader (APP=monitor: build/BOARD-monitor/)
	$(TERNECG) program --board $(BOARD) $(APPARG)

host:            ## classify RECORD on the board at PORT with MODEL (LIMIT=N beats; RESUME=1 continues an interrupted run)
	$(TERNECG) host --port $(PORT) --record $(RECORD) --model $(MODEL) $(if $(LIMIT),--limit $(LIMIT)) $(if $(RESUME),--resume) $(DBARG)

monitor:         ## stream RECORD's raw samples to the monitor board at PORT (REALTIME=1: paced at 360 Hz; SECONDS=S: the first S seconds): its beats as WFDB annotations in build/monitor/, the EC57 report, the PNG of make annotate
	$(TERNECG) monitor --port $(PORT) --record $(RECORD) $(if $(filter-out models/default.json,$(MODEL)),--model $(MODEL)) $(if $(REALTIME),--realtime) $(if $(SECONDS),--seconds $(SECONDS)) $(DBARG)

clean:           ## remove build outputs (keeps the venv)
	rm -rf build
