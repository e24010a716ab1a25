// kerasc runtime: native training checkpoints (model weights, optimizer state, fit's driver
// state), so that a run killed at any moment resumes to bit-identical weights.
//
// Format, little endian throughout:
//   "KERASCK1" | u32 version (1) | u64 driver_state_len | driver_state bytes (text, see fit.h) |
//   u32 tensor_count | tensor_count x {
//       u32 name_len | name | u32 keras_path_len | keras_path ("" if none) |
//       u8 kind (0 model weight, 1 optimizer state, 2 extra) | u8 trainable |
//       u32 rank | i64 shape[rank] | u64 count | f32 data[count] } |
//   u32 CRC-32 (IEEE, as zlib; crc32.h) of every byte before it
// Files are written with write_file_atomic, read whole, checked (size, magic, CRC, names,
// shapes) before anything in the model is touched. Header-only, standard library only (plus
// atomic_file.h's POSIX calls).
#pragma once

#include "atomic_file.h"
#include "crc32.h"
#include "train_model.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace kerasc {

/// One tensor of a checkpoint, for tools that read checkpoints without a model.
struct CheckpointTensor {
  std::string name, keras_path;
  std::vector<int64_t> shape;
  std::vector<float> data;
  bool trainable = false;
  int kind = 0;  // 0 model weight, 1 optimizer state, 2 extra (e.g. EarlyStopping's best weights)
};

namespace detail {

struct ByteWriter {
  std::string out;
  void u8(uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void str32(const std::string &s) { u32(static_cast<uint32_t>(s.size())); out += s; }
  void floats(const float *p, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, p + i, 4);
      u32(bits);
    }
  }
};

struct ByteReader {
  const unsigned char *p;
  size_t n, pos = 0;
  bool ok = true;
  bool need(size_t k) { ok = ok && n - pos >= k; return ok; }
  uint64_t uint(int bytes) {
    if (!need(static_cast<size_t>(bytes))) return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[pos + i]) << (8 * i);
    pos += static_cast<size_t>(bytes);
    return v;
  }
  std::string str(uint64_t len) {
    if (len > n || !need(static_cast<size_t>(len))) { ok = false; return ""; }
    std::string s(reinterpret_cast<const char *>(p + pos), static_cast<size_t>(len));
    pos += static_cast<size_t>(len);
    return s;
  }
};

inline void put_slot(ByteWriter &w, const TensorSlot &s, int kind) {
  w.str32(s.name);
  w.str32(s.keras_path ? s.keras_path : "");
  w.u8(static_cast<uint8_t>(kind));
  w.u8(s.trainable ? 1 : 0);
  w.u32(static_cast<uint32_t>(s.rank));
  for (int d = 0; d < s.rank; ++d) w.u64(static_cast<uint64_t>(s.shape[d]));
  w.u64(static_cast<uint64_t>(s.count));
  w.floats(s.data, s.count);
}

inline std::string shape_str(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

} // namespace detail

/// Writes model weights, optimizer state, `extras` (kind 2) and `driver_state` to `path`
/// atomically. Returns false with "<path>: <reason>" in *error.
inline bool write_checkpoint(const char *path, const TrainableModel &m, const std::string &driver_state,
                             const TensorSlot *extras, int num_extras, std::string *error) {
  detail::ByteWriter w;
  w.out = "KERASCK1";
  w.u32(1);
  w.u64(driver_state.size());
  w.out += driver_state;
  w.u32(static_cast<uint32_t>(m.num_weights + m.num_optimizer_state + num_extras));
  for (int i = 0; i < m.num_weights; ++i) detail::put_slot(w, m.weights[i], 0);
  for (int i = 0; i < m.num_optimizer_state; ++i) detail::put_slot(w, m.optimizer_state[i], 1);
  for (int i = 0; i < num_extras; ++i) detail::put_slot(w, extras[i], 2);
  w.u32(crc32(w.out.data(), w.out.size()));
  return write_file_atomic(path, w.out, error);
}

inline bool write_checkpoint(const char *path, const TrainableModel &m, const std::string &driver_state,
                             std::string *error) {
  return write_checkpoint(path, m, driver_state, nullptr, 0, error);
}

/// Reads every tensor of a checkpoint, without a model (for converters and tools).
inline bool read_checkpoint_tensors(const char *path, std::vector<CheckpointTensor> *tensors,
                                    std::string *driver_state, std::string *error) {
  auto fail = [&](const std::string &what) {
    if (error) *error = std::string(path) + ": " + what;
    return false;
  };
  std::FILE *f = std::fopen(path, "rb");
  if (!f) return fail(std::string("cannot open checkpoint: ") + std::strerror(errno));
  std::string bytes;
  char buf[65536];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof(buf), f)) > 0) bytes.append(buf, got);
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) return fail("read error");
  if (bytes.size() < 8 || bytes.compare(0, 8, "KERASCK1") != 0)
    return fail("not a kerasc checkpoint (bad magic)");
  if (bytes.size() < 8 + 4 + 8 + 4 + 4)
    return fail("truncated checkpoint");
  const auto *u = reinterpret_cast<const unsigned char *>(bytes.data());
  detail::ByteReader tail{u + bytes.size() - 4, 4};
  const uint32_t stored_crc = static_cast<uint32_t>(tail.uint(4));
  if (crc32(u, bytes.size() - 4) != stored_crc)
    return fail("checksum mismatch (the file is truncated or corrupt)");
  detail::ByteReader r{u, bytes.size() - 4, 8};
  const uint64_t version = r.uint(4);
  if (version != 1)
    return fail("unsupported checkpoint version " + std::to_string(version));
  std::string state = r.str(r.uint(8));
  const uint64_t count = r.uint(4);
  std::vector<CheckpointTensor> out;
  for (uint64_t t = 0; t < count && r.ok; ++t) {
    CheckpointTensor c;
    c.name = r.str(r.uint(4));
    c.keras_path = r.str(r.uint(4));
    c.kind = static_cast<int>(r.uint(1));
    c.trainable = r.uint(1) != 0;
    const uint64_t rank = r.uint(4);
    if (rank > 8) return fail("tensor '" + c.name + "' has rank " + std::to_string(rank));
    uint64_t product = 1;
    for (uint64_t d = 0; d < rank && r.ok; ++d) {
      c.shape.push_back(static_cast<int64_t>(r.uint(8)));
      product *= static_cast<uint64_t>(c.shape.back());
    }
    const uint64_t n = r.uint(8);
    if (!r.ok) break;
    if (n != product) return fail("tensor '" + c.name + "': element count does not match its shape");
    if (n > (r.n - r.pos) / 4) return fail("truncated checkpoint");
    c.data.resize(static_cast<size_t>(n));
    for (uint64_t i = 0; i < n; ++i) {
      const uint32_t bits = static_cast<uint32_t>(r.uint(4));
      std::memcpy(&c.data[static_cast<size_t>(i)], &bits, 4);
    }
    out.push_back(std::move(c));
  }
  if (!r.ok) return fail("truncated checkpoint");
  if (r.pos != r.n) return fail("trailing bytes after the last tensor");
  if (tensors) *tensors = std::move(out);
  if (driver_state) *driver_state = std::move(state);
  return true;
}

/// Loads weights, optimizer state and (when given) `extras` by name from `path`. Every name and
/// shape is checked first; on any error nothing in the model is changed.
inline bool read_checkpoint(const char *path, TrainableModel &m, std::string *driver_state,
                            TensorSlot *extras, int num_extras, std::string *error) {
  std::vector<CheckpointTensor> tensors;
  std::string state;
  if (!read_checkpoint_tensors(path, &tensors, &state, error))
    return false;
  struct Target { TensorSlot *slot; int kind; const CheckpointTensor *found; };
  std::vector<Target> targets;
  for (int i = 0; i < m.num_weights; ++i) targets.push_back({&m.weights[i], 0, nullptr});
  for (int i = 0; i < m.num_optimizer_state; ++i) targets.push_back({&m.optimizer_state[i], 1, nullptr});
  for (int i = 0; i < num_extras; ++i) targets.push_back({&extras[i], 2, nullptr});
  for (auto &t : targets) {
    for (const auto &c : tensors)
      if (c.kind == t.kind && c.name == t.slot->name) t.found = &c;
    std::vector<int64_t> want(t.slot->shape, t.slot->shape + t.slot->rank);
    if (!t.found) {
      if (error)
        *error = std::string(path) + ": checkpoint has no tensor '" + t.slot->name +
                 "' (it was written by a different model)";
      return false;
    }
    if (t.found->shape != want) {
      if (error)
        *error = std::string(path) + ": tensor '" + t.slot->name + "' has shape " +
                 detail::shape_str(t.found->shape) + " in the checkpoint but " +
                 detail::shape_str(want) + " in this model";
      return false;
    }
  }
  for (auto &t : targets)
    std::memcpy(t.slot->data, t.found->data.data(), t.found->data.size() * sizeof(float));
  if (driver_state) *driver_state = std::move(state);
  return true;
}

inline bool read_checkpoint(const char *path, TrainableModel &m, std::string *driver_state,
                            std::string *error) {
  return read_checkpoint(path, m, driver_state, nullptr, 0, error);
}

} // namespace kerasc
