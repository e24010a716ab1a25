// kerasc runtime: CRC-32 as zip and zlib compute it (IEEE 802.3 / CRC-32/ISO-HDLC: reflected
// polynomial 0xEDB88320, initial value and final xor ~0; crc32("123456789") == 0xCBF43926).
// Used by the .keras zip writer and reader (keras_archive.h) and by the checkpoint format
// (checkpoint.h), so both formats depend on exactly this function. Header-only, standard library.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kerasc {

namespace crc32_detail {

struct Table {
  uint32_t entry[256];
};

constexpr Table make_table() {
  Table t{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t.entry[n] = c;
  }
  return t;
}

inline constexpr Table kTable = make_table();

} // namespace crc32_detail

/// CRC-32 of `size` bytes at `data`. Pass a previous result as `crc` to continue it over more
/// bytes: crc32(b, nb, crc32(a, na)) == crc32 of a followed by b (as zlib's crc32()).
inline uint32_t crc32(const void *data, size_t size, uint32_t crc = 0) {
  const auto *p = static_cast<const unsigned char *>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i)
    crc = crc32_detail::kTable.entry[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

} // namespace kerasc
