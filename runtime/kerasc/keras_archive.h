// kerasc runtime: writing (and reading back) Keras 3's `.keras` archive, so that a generated
// program can hand its trained model back to Keras with `keras.models.load_model`.
//
// A `.keras` file is a plain zip with three members, in this order, all *stored* (Keras's own
// writer uses zipfile's default, ZIP_STORED): metadata.json, config.json, model.weights.h5.
// Stored entries need no compressor, so the zip writer here is ~150 lines of standard C++: local
// headers, data, a central directory and its end record, with crc32.h's CRC-32. Zip64 is not
// written: every member and the whole archive must stay below 4 GiB (larger inputs are refused
// with an error rather than producing a corrupt file).
//
// Files are written atomically (atomic_file.h: temporary sibling + fsync + rename), so an
// interrupted save never leaves a truncated model where a good one was. Header-only; the standard
// library plus atomic_file.h's POSIX calls. Nothing here runs in a per-step path, so it may
// allocate.
#pragma once

#include "atomic_file.h"
#include "crc32.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace kerasc {

namespace archive_detail {

/// Reads a whole file; false (with `*error` naming the file) when it cannot be opened or read.
inline bool read_whole_file(const char *path, std::vector<char> *out, std::string *error) {
  std::FILE *f = std::fopen(path, "rb");
  if (!f) {
    if (error)
      *error = std::string(path) + ": cannot open file";
    return false;
  }
  out->clear();
  char buffer[1 << 16];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof buffer, f)) > 0)
    out->insert(out->end(), buffer, buffer + got);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  if (!ok && error)
    *error = std::string(path) + ": read error";
  return ok;
}

// Zip stores every integer little-endian, whatever the host.
inline void put16(std::vector<char> *out, uint32_t v) {
  out->push_back(static_cast<char>(v & 0xFF));
  out->push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void put32(std::vector<char> *out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}
inline uint32_t get16(const char *p) {
  return static_cast<uint32_t>(static_cast<unsigned char>(p[0])) |
         static_cast<uint32_t>(static_cast<unsigned char>(p[1])) << 8;
}
inline uint32_t get32(const char *p) { return get16(p) | get16(p + 2) << 16; }

} // namespace archive_detail

/// One member of a stored zip archive.
struct ZipEntry {
  std::string name;
  const char *data;
  size_t size;
};

/// Builds an uncompressed ("stored") zip archive in memory. Timestamps are the DOS epoch
/// (1980-01-01 00:00), as in the committed fixtures, so identical inputs give identical bytes;
/// Keras itself reads the save date from metadata.json, not from the zip. Returns false when a
/// member or the archive would need zip64 (4 GiB and more) or there are more than 65535 members.
inline bool build_stored_zip(const ZipEntry *entries, int n, std::vector<char> *out,
                             std::string *error) {
  using archive_detail::put16;
  using archive_detail::put32;
  const uint32_t kDosDate = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  const uint32_t kDosTime = 0;
  const uint64_t kLimit = 0xFFFFFFFFull;
  if (n < 0 || n > 0xFFFF) {
    if (error)
      *error = "zip: too many entries";
    return false;
  }
  out->clear();
  std::vector<char> central;
  for (int i = 0; i < n; ++i) {
    const ZipEntry &e = entries[i];
    if (e.size >= kLimit || out->size() >= kLimit || e.name.size() > 0xFFFF) {
      if (error)
        *error = "zip: entry '" + e.name + "' needs zip64 (4 GiB or more), which is not written";
      return false;
    }
    const uint32_t crc = crc32(e.data, e.size);
    const uint32_t offset = static_cast<uint32_t>(out->size());
    const uint32_t size = static_cast<uint32_t>(e.size);
    // Local file header.
    put32(out, 0x04034b50);
    put16(out, 20); // version needed: 2.0
    put16(out, 0);  // flags: sizes known up front, no data descriptor
    put16(out, 0);  // method: stored
    put16(out, kDosTime);
    put16(out, kDosDate);
    put32(out, crc);
    put32(out, size); // compressed size
    put32(out, size); // uncompressed size
    put16(out, static_cast<uint32_t>(e.name.size()));
    put16(out, 0); // extra field length
    out->insert(out->end(), e.name.begin(), e.name.end());
    out->insert(out->end(), e.data, e.data + e.size);
    // Its central directory record.
    put32(&central, 0x02014b50);
    put16(&central, (3 << 8) | 20); // made by: Unix, zip 2.0 (so the mode bits below count)
    put16(&central, 20);
    put16(&central, 0);
    put16(&central, 0);
    put16(&central, kDosTime);
    put16(&central, kDosDate);
    put32(&central, crc);
    put32(&central, size);
    put32(&central, size);
    put16(&central, static_cast<uint32_t>(e.name.size()));
    put16(&central, 0);              // extra
    put16(&central, 0);              // comment
    put16(&central, 0);              // disk number
    put16(&central, 0);              // internal attributes
    put32(&central, 0100644u << 16); // external: regular file, rw-r--r--
    put32(&central, offset);
    central.insert(central.end(), e.name.begin(), e.name.end());
  }
  if (out->size() + central.size() >= kLimit) {
    if (error)
      *error = "zip: archive needs zip64 (4 GiB or more), which is not written";
    return false;
  }
  const uint32_t central_offset = static_cast<uint32_t>(out->size());
  out->insert(out->end(), central.begin(), central.end());
  // End of central directory record.
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint32_t>(n));
  put16(out, static_cast<uint32_t>(n));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, central_offset);
  put16(out, 0); // comment length
  return true;
}

/// Writes a Keras 3 `.keras` archive at `path` (atomically): `metadata_json` and `config_json`
/// verbatim, and the bytes of the HDF5 file at `weights_h5_path` as `model.weights.h5`.
/// `metadata_json` is normally {"keras_version": "3.15.1", "date_saved": "YYYY-MM-DD@HH:MM:SS"}.
inline bool write_keras_archive(const char *path, const char *config_json,
                                const char *metadata_json, const char *weights_h5_path,
                                std::string *error) {
  std::vector<char> weights;
  if (!archive_detail::read_whole_file(weights_h5_path, &weights, error))
    return false;
  const ZipEntry entries[3] = {
      {"metadata.json", metadata_json, std::strlen(metadata_json)},
      {"config.json", config_json, std::strlen(config_json)},
      {"model.weights.h5", weights.data(), weights.size()},
  };
  std::vector<char> zip;
  if (!build_stored_zip(entries, 3, &zip, error)) {
    if (error)
      *error = std::string(path) + ": " + *error;
    return false;
  }
  return write_file_atomic(path, zip.data(), zip.size(), error);
}

/// Reads member `name` of a zip archive held in memory, for *stored* members only (what Keras
/// writes). Found through the central directory; the CRC is checked. False with `*error` when the
/// archive is malformed, the member is missing or compressed.
inline bool read_stored_zip_entry(const std::vector<char> &zip, const std::string &name,
                                  std::vector<char> *out, std::string *error) {
  using archive_detail::get16;
  using archive_detail::get32;
  auto fail = [&](const std::string &message) {
    if (error)
      *error = message;
    return false;
  };
  const size_t n = zip.size();
  if (n < 22)
    return fail("not a zip archive (too short)");
  // The end record is the last 22 bytes unless there is a comment; search back for it.
  size_t eocd = n - 22;
  while (get32(&zip[eocd]) != 0x06054b50) {
    if (eocd == 0 || n - eocd > 22 + 0xFFFF)
      return fail("not a zip archive (no end of central directory)");
    --eocd;
  }
  const uint32_t count = get16(&zip[eocd + 10]);
  size_t p = get32(&zip[eocd + 16]);
  for (uint32_t i = 0; i < count; ++i) {
    if (p + 46 > n || get32(&zip[p]) != 0x02014b50)
      return fail("corrupt zip central directory");
    const uint32_t method = get16(&zip[p + 10]);
    const uint32_t crc = get32(&zip[p + 16]);
    const uint32_t csize = get32(&zip[p + 20]);
    const uint32_t usize = get32(&zip[p + 24]);
    const size_t name_len = get16(&zip[p + 28]);
    const size_t extra_len = get16(&zip[p + 30]);
    const size_t comment_len = get16(&zip[p + 32]);
    const size_t local = get32(&zip[p + 42]);
    if (p + 46 + name_len > n)
      return fail("corrupt zip central directory");
    if (std::string(&zip[p + 46], name_len) == name) {
      if (method != 0)
        return fail("zip member '" + name + "' is compressed (only stored members are read)");
      if (local + 30 > n || get32(&zip[local]) != 0x04034b50)
        return fail("corrupt zip local header for '" + name + "'");
      const size_t data = local + 30 + get16(&zip[local + 26]) + get16(&zip[local + 28]);
      if (csize != usize || data + usize > n)
        return fail("zip member '" + name + "' is truncated");
      out->assign(zip.begin() + static_cast<std::ptrdiff_t>(data),
                  zip.begin() + static_cast<std::ptrdiff_t>(data + usize));
      if (crc32(out->data(), out->size()) != crc)
        return fail("zip member '" + name + "' fails its CRC check");
      return true;
    }
    p += 46 + name_len + extra_len + comment_len;
  }
  return fail("zip archive has no member '" + name + "'");
}

} // namespace kerasc
