// kerasc runtime: writing a file so that readers see either the old content or the complete new
// content, never half of it (history files, checkpoints, saved weights): write `path.tmp-<pid>`,
// fsync it, rename it over `path`, fsync the directory so the rename itself survives a crash.
// Header-only; standard library plus the POSIX calls that durability needs (open/fsync/rename).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <unistd.h>

namespace kerasc {

namespace detail {

inline bool write_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

inline std::string parent_directory(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos)
    return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace detail

/// Replaces the file at `path` with `size` bytes from `data`, atomically. On failure returns false
/// with "<path>: <reason>" in *error, removes the temporary file and leaves `path` as it was.
inline bool write_file_atomic(const std::string &path, const void *data, size_t size,
                              std::string *error) {
  const std::string tmp = path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
  auto fail = [&](const char *what) {
    const int saved = errno;
    if (error)
      *error = path + ": " + what + (saved ? std::string(": ") + std::strerror(saved) : "");
    ::unlink(tmp.c_str());
    return false;
  };
  errno = 0;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail("cannot create file");
  const bool written = detail::write_all(fd, static_cast<const char *>(data), size);
  const bool synced = written && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (!written)
    return fail("write failed");
  if (!synced)
    return fail("fsync failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail("cannot rename the temporary file over it");
  // The rename is only durable once the directory entry is on disk. Failing to sync the directory
  // (some filesystems refuse O_RDONLY on directories) leaves a complete file, so it is not an error.
  int dir = ::open(detail::parent_directory(path).c_str(), O_RDONLY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

inline bool write_file_atomic(const std::string &path, const std::string &content,
                              std::string *error) {
  return write_file_atomic(path, content.data(), content.size(), error);
}

} // namespace kerasc
