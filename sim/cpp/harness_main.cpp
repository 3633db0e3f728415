// Verilator main for the speed harness (ternecg.sim.harness): toggles the harness's clock until
// the harness calls $finish. All stimulus, back-pressure and result recording is in the harness
// Verilog; this loop is the only thing between the model and the CPU.
#include <memory>
#include "verilated.h"
#include HARNESS_HEADER

int main(int argc, char** argv) {
    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
#if VM_TRACE
    ctx->traceEverOn(true);      // the harness's $dumpvars (WAVES=1 builds)
#endif
    auto top = std::make_unique<HARNESS_CLASS>(ctx.get());
    top->clk = 0;
    top->eval();
    while (!ctx->gotFinish()) {
        ctx->timeInc(5);
        top->clk = 1;
        top->eval();
        ctx->timeInc(5);
        top->clk = 0;
        top->eval();
    }
    top->final();
    return 0;
}
