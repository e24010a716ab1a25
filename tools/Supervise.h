// Turns crashes and hangs inside third-party file parsers into ordinary kerasc errors.
//
// libhdf5 (Debian's 1.10) can crash or loop forever on some corrupt .h5 files instead of
// returning an error, and no check from outside the library can rule that out. So the driver
// does its work in a child process: the parent reports a child killed by a signal as the usual
// one-line error naming the model file, and stops a child that is still reading the model after
// a time limit. Once the model is read, the child has no time limit.
#pragma once

#include <functional>
#include <string>

namespace kerasc {

struct SupervisedRun {
  std::string modelPath;   // for the error message
  std::string outputDir;   // a temporary directory the child may leave behind is removed
  int readTimeoutSeconds;  // limit for reading the model file
};

/// Where an output directory is written before it is renamed into place, by process `pid`.
std::string temporaryOutputDir(const std::string &dir, int pid);

/// Runs `work` in a child process and returns its exit status, or 1 after printing an error
/// when it crashed or did not finish reading the model in time.
int runSupervised(const std::function<int()> &work, const SupervisedRun &run);

/// Called by the child once the model file is parsed: ends the read time limit.
void markModelRead();

} // namespace kerasc
