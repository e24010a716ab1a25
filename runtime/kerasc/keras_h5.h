// kerasc runtime: Keras 3 `.weights.h5` files, written and read by generated programs, so that
// weights trained here load into Keras with `model.load_weights(path)` and weights saved by
// Keras's `model.save_weights(path)` load here.
//
// The layout reproduces what Keras 3.15 writes (keras/src/saving/saving_lib.py, H5IOStore), as
// observed with h5py (tests/fixtures/FORMATS.md §2):
//
//   /                                 no attributes; HDF5 defaults (superblock 0, like h5py)
//   /layers/<key>/vars/               group, @name = the layer's name (vlen UTF-8 string, scalar)
//   /layers/<key>/vars/0, 1, ...      float32 LE, contiguous; rank-0 variables as scalar dataspaces
//   /layers/<key>/vars/               also for weightless layers (Dropout...): empty group
//   /vars/                            @name = the model's name; the model's own variables (none)
//   /optimizer/vars/0 (int32 iteration), 1 (learning rate), 2... slots   only if asked for
//
// Keras's loader walks the model, takes `<path>/vars` for each layer (an absent group reads as
// "no variables") and assigns `vars/<i>` by index after checking the count and shapes; it never
// reads @name. So every slot's `keras_path` ("layers/dense/vars/0") is what matters; the @name
// attributes and empty groups are written for fidelity (tools and people read them), from
// KerasH5SaveOptions when the caller knows them.
//
// Uses the HDF5 C API (1.10+): this header is only included by generated command-line programs
// built with HDF5. HDF5's automatic error printing is switched off; every failure is reported
// through `*error`, one line naming the file. Saving and loading are not per-step code, so they
// may allocate.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <hdf5.h>

#include "atomic_file.h"
#include "keras_archive.h"
#include "train_model.h"

namespace kerasc {

/// A `vars` group to create even if no slot lives in it, or whose @name to set explicitly.
struct KerasH5Group {
  const char *path; // the group holding `vars`: "layers/dropout"; "" for the model's own /vars
  const char *name; // its @name: the layer's (or model's, optimizer's) name
};

/// What a TensorSlot table cannot say about a Keras weights file. All optional.
struct KerasH5SaveOptions {
  /// @name of the top-level /vars group (Keras always writes it, holding the model's name);
  /// the group is left out when null.
  const char *model_name = nullptr;
  /// Extra groups (weightless layers, exact layer names). Without an entry, a group's @name is
  /// taken from the first slot stored in it: the next-to-last component of the slot's name
  /// ("hidden1/kernel" -> "hidden1", "mlp/hidden1/kernel" -> "hidden1").
  const KerasH5Group *groups = nullptr;
  int num_groups = 0;
  /// When set (normally "optimizer/vars/0"), the optimizer's iteration counter is written there
  /// as an int32 scalar, the type Keras gives it; float slots cannot represent it.
  const char *iterations_path = nullptr;
  int64_t iterations = 0;
};

namespace h5_detail {

/// Owns one HDF5 identifier; closes it with the matching function.
class H5Handle {
public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0)
      close_(id_);
  }
  H5Handle(const H5Handle &) = delete;
  H5Handle &operator=(const H5Handle &) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

/// HDF5 prints its error stack to stderr by default; we report errors ourselves.
inline void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

inline std::string shape_string(int rank, const int64_t *shape) {
  std::string s = "(";
  for (int i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (rank == 1 ? ",)" : ")");
}

/// True when `path` names an object of `type` (H5I_GROUP / H5I_DATASET), checking every component
/// (H5Lexists fails on a missing parent) and refusing soft and external links, as Keras does.
inline bool h5_has_object(hid_t file, const std::string &path, H5I_type_t type) {
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string prefix = path.substr(0, slash);
    if (prefix.empty() || H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0)
      return false;
    H5L_info_t info;
    if (H5Lget_info(file, prefix.c_str(), &info, H5P_DEFAULT) < 0 || info.type != H5L_TYPE_HARD)
      return false;
    if (slash == std::string::npos)
      break;
    start = slash + 1;
  }
  H5Handle object(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose);
  return object.ok() && H5Iget_type(object.get()) == type;
}

/// Writes a scalar variable-length UTF-8 string attribute, exactly as h5py writes a Python str.
inline bool h5_write_name_attribute(hid_t group, const char *value) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  if (!type.ok() || !space.ok() || H5Tset_size(type.get(), H5T_VARIABLE) < 0 ||
      H5Tset_cset(type.get(), H5T_CSET_UTF8) < 0)
    return false;
  H5Handle attr(H5Acreate2(group, "name", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose);
  return attr.ok() && H5Awrite(attr.get(), type.get(), &value) >= 0;
}

/// Creates `path` (and its parents) unless it exists; a new group whose last component is
/// `vars` gets its @name. Returns false on an HDF5 failure.
inline bool h5_make_group(hid_t file, const std::string &path, const std::string &name) {
  if (h5_has_object(file, path, H5I_GROUP))
    return true;
  H5Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  if (!lcpl.ok() || H5Pset_create_intermediate_group(lcpl.get(), 1) < 0)
    return false;
  H5Handle group(H5Gcreate2(file, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  if (!group.ok())
    return false;
  const bool is_vars =
      path == "vars" || (path.size() > 5 && path.compare(path.size() - 5, 5, "/vars") == 0);
  return !is_vars || h5_write_name_attribute(group.get(), name.c_str());
}

/// The @name of a group nobody named: the layer's name, which is the next-to-last component of
/// the slot's name ("hidden1/kernel" -> "hidden1", "mlp/hidden1/kernel" -> "hidden1"); for the
/// optimizer's group, "optimizer" (Keras writes the optimizer's name, e.g. "adam").
inline std::string default_group_name(const std::string &vars_group, const char *slot_name) {
  if (vars_group == "optimizer/vars")
    return "optimizer";
  const std::string s = slot_name ? slot_name : "";
  const size_t last = s.rfind('/');
  if (last == std::string::npos)
    return s;
  const std::string head = s.substr(0, last);
  const size_t before = head.rfind('/');
  return before == std::string::npos ? head : head.substr(before + 1);
}

inline bool h5_write_dataset(hid_t file, const std::string &path, hid_t file_type, hid_t mem_type,
                             int rank, const int64_t *shape, const void *data) {
  hsize_t dims[8];
  for (int i = 0; i < rank; ++i)
    dims[i] = static_cast<hsize_t>(shape[i]);
  H5Handle space(rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, nullptr),
                 H5Sclose);
  if (!space.ok())
    return false;
  H5Handle dataset(
      H5Dcreate2(file, path.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
      H5Dclose);
  return dataset.ok() &&
         H5Dwrite(dataset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
}

/// Reads every slot's dataset from the open `file` into `staged` (nothing in the slots changes),
/// checking presence and shape. `label` names the file in messages.
inline bool h5_stage_slots(hid_t file, const std::string &label, const TensorSlot *slots, int n,
                           std::vector<std::vector<float>> *staged, std::string *error) {
  staged->assign(static_cast<size_t>(n), {});
  for (int i = 0; i < n; ++i) {
    const TensorSlot &slot = slots[i];
    if (!slot.keras_path)
      continue;
    const std::string path = slot.keras_path;
    const std::string who = " (" + std::string(slot.name ? slot.name : "?") + ")";
    if (!h5_has_object(file, path, H5I_DATASET)) {
      *error = label + ": missing variable '" + path + "'" + who;
      return false;
    }
    H5Handle dataset(H5Dopen2(file, path.c_str(), H5P_DEFAULT), H5Dclose);
    H5Handle space(dataset.ok() ? H5Dget_space(dataset.get()) : -1, H5Sclose);
    H5Handle type(dataset.ok() ? H5Dget_type(dataset.get()) : -1, H5Tclose);
    if (!space.ok() || !type.ok()) {
      *error = label + ": cannot open variable '" + path + "' (corrupt file)" + who;
      return false;
    }
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
      *error = label + ": variable '" + path + "' is not numeric" + who;
      return false;
    }
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0 || rank > 8) {
      *error = label + ": variable '" + path + "' has an unreadable shape" + who;
      return false;
    }
    hsize_t dims[8] = {};
    int64_t shape[8] = {};
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    bool same = rank == slot.rank;
    for (int d = 0; d < rank; ++d) {
      shape[d] = static_cast<int64_t>(dims[d]);
      same = same && shape[d] == slot.shape[d];
    }
    if (!same) {
      *error = label + ": variable '" + path + "' has shape " + shape_string(rank, shape) +
               ", the model expects " + shape_string(slot.rank, slot.shape) + who;
      return false;
    }
    // A damaged header can claim a shape the file does not store; refuse before reading.
    const size_t element = H5Tget_size(type.get());
    H5Handle dcpl(H5Dget_create_plist(dataset.get()), H5Pclose);
    if (slot.count > 0 &&
        (element == 0 || !dcpl.ok() ||
         (H5Pget_nfilters(dcpl.get()) == 0 &&
          H5Dget_storage_size(dataset.get()) / element < static_cast<hsize_t>(slot.count)))) {
      *error = label + ": variable '" + path + "' is truncated or corrupt" + who;
      return false;
    }
    std::vector<float> &buffer = (*staged)[static_cast<size_t>(i)];
    buffer.resize(static_cast<size_t>(slot.count));
    // HDF5 converts int32 (the optimizer's iteration) or float64 to float on read.
    if (slot.count > 0 && H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                  buffer.data()) < 0) {
      *error = label + ": cannot read variable '" + path + "' (corrupt file)" + who;
      return false;
    }
  }
  return true;
}

/// Copies staged values into the slots; only called once every slot has been read successfully.
inline void commit_staged(const std::vector<std::vector<float>> &staged, TensorSlot *slots, int n) {
  for (int i = 0; i < n; ++i)
    if (slots[i].keras_path && slots[i].count > 0)
      std::memcpy(slots[i].data, staged[static_cast<size_t>(i)].data(),
                  static_cast<size_t>(slots[i].count) * sizeof(float));
}

/// The common end of both loaders: `id` is what H5Fopen returned. Reads and checks every slot
/// first, then copies, so a bad file changes nothing.
inline bool load_opened(hid_t id, const std::string &label, TensorSlot *slots, int n,
                        std::string *error) {
  H5Handle file(id, H5Fclose);
  if (!file.ok()) {
    *error = label + ": corrupt HDF5 file";
    return false;
  }
  std::vector<std::vector<float>> staged;
  if (!h5_stage_slots(file.get(), label, slots, n, &staged, error))
    return false;
  commit_staged(staged, slots, n);
  return true;
}

/// Fails when the first bytes are not HDF5's signature, so "not an HDF5 file" is told apart
/// from "a corrupt one" (HDF5 also accepts a signature at 512, 1024, ...; Keras files have it at
/// 0).
inline bool looks_like_hdf5(const char *bytes, size_t size) {
  static const char signature[8] = {'\x89', 'H', 'D', 'F', '\r', '\n', '\x1a', '\n'};
  return size >= 8 && std::memcmp(bytes, signature, 8) == 0;
}

} // namespace h5_detail

/// Writes `slots` (those with a keras_path) to a Keras 3 `.weights.h5` file at `path`, atomically
/// (temporary sibling, fsync, rename). Returns false with a one-line `*error` naming the file.
inline bool save_keras_weights_h5(const char *path, const TensorSlot *slots, int n,
                                  const KerasH5SaveOptions &options, std::string *error) {
  using h5_detail::H5Handle;
  h5_detail::silence_hdf5_errors();
  std::string local_error;
  if (!error)
    error = &local_error;
  const std::string label = path;

  // Check the table before touching the disk: paths unique, shapes consistent.
  std::set<std::string> seen;
  for (int i = 0; i < n; ++i) {
    const TensorSlot &s = slots[i];
    if (!s.keras_path)
      continue;
    int64_t count = 1;
    for (int d = 0; d < s.rank; ++d)
      count *= s.shape[d];
    const std::string p = s.keras_path;
    if (p.empty() || p.front() == '/' || p.find('/') == std::string::npos || s.rank < 0 ||
        s.rank > 8 || count != s.count || !seen.insert(p).second) {
      *error =
          label + ": invalid or duplicate keras_path '" + p + "' for " + (s.name ? s.name : "?");
      return false;
    }
  }

  const std::string tmp = temporary_path(path);
  bool ok = true;
  {
    // Close strongly: every object is closed with the file, so the bytes are complete on return.
    H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (fapl.ok())
      H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
    H5Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
    if (!file.ok()) {
      *error = label + ": cannot create file";
      return false;
    }
    const hid_t f = file.get();
    // Explicit groups first, so their names win over names derived from slots.
    std::map<std::string, std::string> names; // vars group path -> @name
    for (int i = 0; i < options.num_groups; ++i) {
      std::string g = options.groups[i].path ? options.groups[i].path : "";
      names[g.empty() ? "vars" : g + "/vars"] =
          options.groups[i].name ? options.groups[i].name : "";
    }
    if (options.model_name && !names.count("vars"))
      names["vars"] = options.model_name;
    for (const auto &entry : names)
      ok = ok && h5_detail::h5_make_group(f, entry.first, entry.second);
    for (int i = 0; ok && i < n; ++i) {
      const TensorSlot &s = slots[i];
      if (!s.keras_path)
        continue;
      const std::string p = s.keras_path;
      const std::string group = p.substr(0, p.find_last_of('/'));
      const std::string name =
          names.count(group) ? names[group] : h5_detail::default_group_name(group, s.name);
      ok = h5_detail::h5_make_group(f, group, name) &&
           h5_detail::h5_write_dataset(f, p, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s.rank, s.shape,
                                       s.data);
      if (!ok)
        *error = label + ": cannot write variable '" + p + "'";
    }
    if (ok && options.iterations_path) {
      const std::string p = options.iterations_path;
      const int32_t value = static_cast<int32_t>(options.iterations);
      const size_t slash = p.find_last_of('/');
      ok = slash != std::string::npos && slash > 0 && !seen.count(p) &&
           h5_detail::h5_make_group(f, p.substr(0, slash), "optimizer") &&
           h5_detail::h5_write_dataset(f, p, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, nullptr, &value);
      if (!ok)
        *error = label + ": cannot write the iteration counter at '" + p + "'";
    }
    if (ok && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) {
      ok = false;
      *error = label + ": write error (disk full?)";
    }
    if (!ok && error->empty())
      *error = label + ": cannot write group structure";
  } // the file is closed here
  if (!ok) {
    std::remove(tmp.c_str());
    return false;
  }
  return commit_file_atomic(tmp, path, error);
}

inline bool save_keras_weights_h5(const char *path, const TensorSlot *slots, int n,
                                  std::string *error) {
  return save_keras_weights_h5(path, slots, n, KerasH5SaveOptions{}, error);
}

/// Reads a Keras 3 `.weights.h5` (as `model.save_weights` writes it) into the slots, by
/// keras_path. Every variable is read and shape-checked before any slot is written, so on
/// failure (missing variable, wrong shape, not an HDF5 file) the slots are untouched.
inline bool load_keras_weights_h5(const char *path, TensorSlot *slots, int n, std::string *error) {
  using h5_detail::H5Handle;
  h5_detail::silence_hdf5_errors();
  std::string local_error;
  if (!error)
    error = &local_error;
  const std::string label = path;
  char head[8] = {};
  std::FILE *probe = std::fopen(path, "rb");
  if (!probe) {
    *error = label + ": cannot open file";
    return false;
  }
  const size_t got = std::fread(head, 1, sizeof head, probe);
  std::fclose(probe);
  if (!h5_detail::looks_like_hdf5(head, got)) {
    *error = label + ": not an HDF5 file";
    return false;
  }
  return h5_detail::load_opened(H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), label, slots, n,
                                error);
}

/// As load_keras_weights_h5, from an HDF5 file image in memory (e.g. model.weights.h5 taken out
/// of a .keras archive). `label` names it in messages. HDF5 copies the image.
inline bool load_keras_weights_h5_image(const void *image, size_t size, const char *label,
                                        TensorSlot *slots, int n, std::string *error) {
  using h5_detail::H5Handle;
  h5_detail::silence_hdf5_errors();
  std::string local_error;
  if (!error)
    error = &local_error;
  if (!h5_detail::looks_like_hdf5(static_cast<const char *>(image), size)) {
    *error = std::string(label) + ": not an HDF5 file";
    return false;
  }
  H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.ok() || H5Pset_fapl_core(fapl.get(), 1 << 16, /*backing_store=*/false) < 0 ||
      H5Pset_file_image(fapl.get(), const_cast<void *>(image), size) < 0) {
    *error = std::string(label) + ": cannot set up in-memory HDF5 access";
    return false;
  }
  // HDF5 tells open files apart by name, so every image gets its own.
  static unsigned long images = 0;
  const std::string name = "kerasc-weights-image-" + std::to_string(images++);
  return h5_detail::load_opened(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()), label, slots,
                                n, error);
}

/// Loads weights from either a `.weights.h5` file or the model.weights.h5 inside a `.keras`
/// archive (recognised by the zip signature), into the slots by keras_path.
inline bool load_keras_weights(const char *path, TensorSlot *slots, int n, std::string *error) {
  std::string local_error;
  if (!error)
    error = &local_error;
  std::vector<char> bytes;
  std::FILE *probe = std::fopen(path, "rb");
  char head[4] = {};
  const size_t got = probe ? std::fread(head, 1, 4, probe) : 0;
  if (probe)
    std::fclose(probe);
  if (got == 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) {
    if (!archive_detail::read_whole_file(path, &bytes, error))
      return false;
    std::vector<char> weights;
    if (!read_stored_zip_entry(bytes, "model.weights.h5", &weights, error)) {
      *error = std::string(path) + ": " + *error;
      return false;
    }
    const std::string label = std::string(path) + "/model.weights.h5";
    return load_keras_weights_h5_image(weights.data(), weights.size(), label.c_str(), slots, n,
                                       error);
  }
  return load_keras_weights_h5(path, slots, n, error);
}

} // namespace kerasc
