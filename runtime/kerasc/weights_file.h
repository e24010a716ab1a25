// kerasc runtime: loading an external weights file (`kerasc compile --weights=external`) into
// the generated program's static weight arrays, once, at initialization.
//
// Format (little endian):  "KERASCW1" | u32 tensor_count |
//                          tensor_count x { u32 name_len | name | u64 float_count | f32 data[] }
// Tensors appear in the order the generated code lists them; names and sizes are checked.
// Header-only, standard library only: this file is copied into every generated output.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace kerasc {

/// One static weight array of the generated code.
struct WeightSlot {
  const char *name;
  float *data;
  uint64_t count;
};

/// Fills `slots` from the file at `path`. Returns nullptr on success, else a static message
/// (the caller prints it with the path); never allocates.
inline const char *load_weights_file(const char *path, const WeightSlot *slots, uint32_t count) {
  std::FILE *f = std::fopen(path, "rb");
  if (!f)
    return "cannot open weights file";
  struct Closer {
    std::FILE *f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  char magic[8];
  uint32_t stored_count = 0;
  if (std::fread(magic, 1, 8, f) != 8 || std::memcmp(magic, "KERASCW1", 8) != 0)
    return "not a kerasc weights file (bad magic)";
  if (std::fread(&stored_count, 4, 1, f) != 1 || stored_count != count)
    return "weights file holds a different number of tensors than this model";
  char name[256];
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len = 0;
    uint64_t floats = 0;
    if (std::fread(&name_len, 4, 1, f) != 1 || name_len >= sizeof(name) ||
        std::fread(name, 1, name_len, f) != name_len)
      return "truncated weights file";
    name[name_len] = '\0';
    if (std::strcmp(name, slots[i].name) != 0)
      return "weights file does not match this model (tensor names differ)";
    if (std::fread(&floats, 8, 1, f) != 1 || floats != slots[i].count)
      return "weights file does not match this model (tensor sizes differ)";
    if (std::fread(slots[i].data, sizeof(float), floats, f) != floats)
      return "truncated weights file";
  }
  return nullptr;
}

} // namespace kerasc
