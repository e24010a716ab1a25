// ZipArchive: a read-only RAII wrapper over libzip for the .keras format (a zip of config.json,
// metadata.json and model.weights.h5). Failures become one-line kerasc::Error messages that name
// the archive.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "frontend/ModelSpec.h"

struct zip; // libzip's zip_t, kept out of this header

namespace kerasc {

class ZipArchive {
public:
  /// Opens `path` read-only and checks the archive's consistency; throws kerasc::Error when the
  /// file is missing or is not a valid zip archive.
  explicit ZipArchive(const std::string &path);

  const std::string &path() const { return path_; }
  bool contains(const std::string &entry) const;

  /// The uncompressed bytes of `entry` (CRC-checked); throws when absent or unreadable.
  std::vector<char> read(const std::string &entry) const;

private:
  struct Close {
    void operator()(zip *archive) const;
  };
  [[noreturn]] void fail(const std::string &message) const;

  std::string path_;
  std::unique_ptr<zip, Close> zip_;
};

} // namespace kerasc
