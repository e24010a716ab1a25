#include "tools/Supervise.h"

#include "llvm/Support/FileSystem.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace kerasc {

namespace {
int readDoneFd = -1; // the child's end of the "model read" pipe
} // namespace

std::string temporaryOutputDir(const std::string &dir, int pid) {
  return dir + ".kerasc-tmp-" + std::to_string(pid);
}

void markModelRead() {
  if (readDoneFd >= 0) {
    const char done = 1;
    (void)!::write(readDoneFd, &done, 1);
    ::close(readDoneFd);
    readDoneFd = -1;
  }
}

int runSupervised(const std::function<int()> &work, const SupervisedRun &run) {
  int fds[2];
  if (::pipe(fds) != 0)
    return work(); // cannot supervise: run unguarded rather than not at all
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return work();
  }
  if (child == 0) {
    ::close(fds[0]);
    readDoneFd = fds[1];
    const int status = work();
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(status);
  }
  ::close(fds[1]);

  // Wait for "model read" (a byte) or the child's end (EOF), at most the read time limit.
  pollfd readDone{fds[0], POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&readDone, 1, run.readTimeoutSeconds * 1000);
  } while (ready < 0 && errno == EINTR);
  ::close(fds[0]);
  const bool timedOut = ready == 0;
  if (timedOut)
    ::kill(child, SIGKILL);

  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!run.outputDir.empty())
    llvm::sys::fs::remove_directories(temporaryOutputDir(run.outputDir, child));
  if (timedOut) {
    std::fprintf(stderr,
                 "kerasc: error: %s: reading the model did not finish in %d s (the file is "
                 "probably corrupt)\n",
                 run.modelPath.c_str(), run.readTimeoutSeconds);
    return 1;
  }
  if (WIFSIGNALED(status)) {
    std::fprintf(stderr,
                 "kerasc: error: %s: the file crashed the reader (signal %d: %s); it is probably "
                 "corrupt\n",
                 run.modelPath.c_str(), WTERMSIG(status), strsignal(WTERMSIG(status)));
    return 1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

} // namespace kerasc
