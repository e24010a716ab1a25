// kerasc runtime: writing a file so that readers see either the old content or the complete new
// content, never half of it (history files, checkpoints, saved weights, .keras archives): write
// `path.tmp-<pid>`, fsync it, rename it over `path`, fsync the directory so the rename itself
// survives a crash.
//
// Two levels: write_file_atomic() for bytes held in memory, and temporary_path() +
// commit_file_atomic() for files that something else writes by name (the HDF5 library in
// keras_h5.h): write the temporary file completely, close it, then commit it.
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

/// Failure of an atomic write: "<path>: <what>[: <strerror(errno)>]" in *error, `tmp` removed.
inline bool atomic_write_failed(const std::string &path, const std::string &tmp, const char *what,
                                std::string *error) {
  const int saved = errno;
  if (error)
    *error = path + ": " + what + (saved ? std::string(": ") + std::strerror(saved) : "");
  ::unlink(tmp.c_str());
  return false;
}

} // namespace detail

/// The name a new version of `path` is first written under: `path.tmp-<pid>`, a sibling (same
/// directory, so the final rename is atomic), unique per process (not per thread: two threads must
/// not write the same `path` at once), recognisable if a crash leaves it behind.
inline std::string temporary_path(const std::string &path) {
  return path + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
}

/// Second half of an atomic write: `tmp` (normally temporary_path(path)) is complete and closed.
/// Flushes it to disk, renames it over `path` and flushes the directory so the rename is durable.
/// On failure returns false with "<path>: <reason>" in *error, removes `tmp` and leaves `path` as
/// it was.
inline bool commit_file_atomic(const std::string &tmp, const std::string &path,
                               std::string *error) {
  errno = 0;
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return detail::atomic_write_failed(path, tmp, "fsync failed", error);
  const bool synced = ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (!synced)
    return detail::atomic_write_failed(path, tmp, "fsync failed", error);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return detail::atomic_write_failed(path, tmp, "cannot rename the temporary file over it",
                                       error);
  // The rename is only durable once the directory entry is on disk. Failing to sync the directory
  // (some filesystems refuse O_RDONLY on directories) leaves a complete file, so it is not an error.
  const int dir = ::open(detail::parent_directory(path).c_str(), O_RDONLY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

/// Replaces the file at `path` with `size` bytes from `data`, atomically. On failure returns false
/// with "<path>: <reason>" in *error, removes the temporary file and leaves `path` as it was.
inline bool write_file_atomic(const std::string &path, const void *data, size_t size,
                              std::string *error) {
  const std::string tmp = temporary_path(path);
  errno = 0;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return detail::atomic_write_failed(path, tmp, "cannot create file", error);
  const bool written = detail::write_all(fd, static_cast<const char *>(data), size);
  const int saved = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    if (!written)
      errno = saved;
    return detail::atomic_write_failed(path, tmp, "write failed", error);
  }
  return commit_file_atomic(tmp, path, error);
}

inline bool write_file_atomic(const std::string &path, const std::string &content,
                              std::string *error) {
  return write_file_atomic(path, content.data(), content.size(), error);
}

} // namespace kerasc
