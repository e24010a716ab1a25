// Hdf5File: a small read-only RAII layer over the HDF5 C API, just what the Keras readers need
// (groups, string attributes, numeric datasets). Every failure becomes a kerasc::Error whose
// one-line message starts with the file's label, and HDF5's own error printing is switched off, so
// a corrupt file never writes to the terminal.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frontend/ModelSpec.h"

namespace kerasc {

namespace detail {
class Hdf5Id;         // owns one HDF5 identifier (defined in Hdf5File.cpp)
struct Hdf5FileState; // the open file plus the memory image it may live in
} // namespace detail

class Hdf5Group;

/// An open HDF5 file. Groups taken from it share ownership, so they stay valid after the
/// Hdf5File object itself is gone.
class Hdf5File {
public:
  /// Opens `path` read-only; error messages name the file by `path`.
  static Hdf5File open(const std::string &path);

  /// Opens an HDF5 file held in memory (e.g. model.weights.h5 inside a .keras zip) without
  /// copying it or touching the disk.
  static Hdf5File fromImage(std::vector<char> image, std::string label);

  Hdf5Group root() const;
  /// How error messages name the file.
  const std::string &label() const;

private:
  explicit Hdf5File(std::shared_ptr<const detail::Hdf5FileState> state)
      : state_(std::move(state)) {}
  std::shared_ptr<const detail::Hdf5FileState> state_;
};

/// An open group. Relative paths may contain '/', e.g. group("layers/dense/vars").
class Hdf5Group {
public:
  /// Absolute path inside the file, for messages ("/model_weights/dense").
  const std::string &path() const { return path_; }

  bool hasGroup(const std::string &relPath) const;
  bool hasDataset(const std::string &relPath) const;
  Hdf5Group group(const std::string &relPath) const;

  /// Names of the direct child groups, in HDF5's name order.
  std::vector<std::string> childGroups() const;

  /// Reads a numeric dataset of any integer or float type as float32 (HDF5 converts), keeping its
  /// shape and the stored dtype ("float32", "int64", ...). WeightArray::name is left empty.
  WeightArray readArray(const std::string &relPath) const;

  /// A scalar string attribute (fixed-length or variable-length), or nullopt when absent.
  std::optional<std::string> stringAttribute(const std::string &name) const;

  /// A 1-D array-of-strings attribute, or nullopt when absent. Keras splits attributes that
  /// exceed HDF5's 64 KiB header limit into `name0`, `name1`, ...; those are joined here. An empty
  /// numeric array (what h5py writes for an empty Python list) reads as an empty list.
  std::optional<std::vector<std::string>> stringListAttribute(const std::string &name) const;

  /// Throws kerasc::Error("<file label>: <message>").
  [[noreturn]] void fail(const std::string &message) const;

private:
  friend class Hdf5File;
  Hdf5Group(std::shared_ptr<const detail::Hdf5FileState> file,
            std::shared_ptr<const detail::Hdf5Id> id, std::string path);
  bool hasObject(const std::string &relPath, int type) const;
  std::optional<std::vector<std::string>> readStringArray(const std::string &name) const;
  std::string childPath(const std::string &relPath) const;

  // Declared in this order so that the group is closed before the file is released.
  std::shared_ptr<const detail::Hdf5FileState> file_;
  std::shared_ptr<const detail::Hdf5Id> id_;
  std::string path_;
};

} // namespace kerasc
