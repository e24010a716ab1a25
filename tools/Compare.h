// Compare: `kerasc compare MODEL`, fused vs unfused code of one model, side by side.
//
// Compiles MODEL twice (-O3, and -O3 --no-fuse) by running this kerasc binary again, builds
// each output twice with CMake (Release for end-to-end figures, -DKERASC_PROFILE=ON for
// per-kernel ones), checks that both programs predict the same outputs on seeded random input,
// then times both with the programs' own `bench` subcommand. The result is a Markdown report
// (WORK/compare.md, also printed): agreement, end-to-end timings, planned memory, the reports'
// FLOP and byte totals, per-kernel tables and a per-layer summary.
//
// It runs outside the driver's supervised child: it parses no model itself (the compile
// subprocesses do, each under its own supervision), and its builds outlast any read time limit.
#pragma once

namespace kerasc {

/// `kerasc compare ...`; argv[0] is the subcommand's program name ("kerasc compare") and
/// `kerascPath` the kerasc executable to run for compiling. Returns the exit code: 0 when the
/// variants agree, 1 when they disagree or a step failed (its error printed), 2 on a usage error.
int compareMain(int argc, char **argv, const char *kerascPath);

} // namespace kerasc
