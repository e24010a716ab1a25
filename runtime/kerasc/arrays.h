// kerasc runtime: reading and writing arrays as .npy (NumPy format 1.0/2.0) and .csv, for the
// generated command-line programs. Used only outside the prediction hot path (it allocates).
// Header-only, standard library only: this file is copied into every generated output.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kerasc {

/// A float32 array with its shape, as read from a file.
struct Array {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

namespace detail {

inline std::runtime_error file_error(const std::string &path, const std::string &what) {
  return std::runtime_error(path + ": " + what);
}

/// Value of `key` in the npy header dict, e.g. 'descr': '<f4' -> <f4.
inline std::string npy_header_field(const std::string &header, const std::string &key) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos)
    return "";
  size_t colon = header.find(':', k);
  size_t start = header.find_first_not_of(" ", colon + 1);
  if (header[start] == '\'')
    return header.substr(start + 1, header.find('\'', start + 1) - start - 1);
  if (header[start] == '(')
    return header.substr(start + 1, header.find(')', start) - start - 1);
  size_t end = header.find_first_of(",}", start);
  return header.substr(start, end - start);
}

template <class T>
void convert_to_float(const char *bytes, size_t count, std::vector<float> &out) {
  out.resize(count);
  for (size_t i = 0; i < count; ++i) {
    T v;
    std::memcpy(&v, bytes + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

} // namespace detail

/// Reads a little-endian, C-ordered .npy array of float32/float64/int8..int64/uint8/bool,
/// converting the values to float.
inline Array read_npy(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    throw detail::file_error(path, "cannot open file");
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (content.size() < 10 || content.compare(0, 6, "\x93NUMPY") != 0)
    throw detail::file_error(path, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(content[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(content[8]) |
                 (static_cast<size_t>(static_cast<unsigned char>(content[9])) << 8);
    header_start = 10;
  } else {
    if (content.size() < 12)
      throw detail::file_error(path, "truncated .npy header");
    header_len = 0;
    for (int b = 0; b < 4; ++b)
      header_len |= static_cast<size_t>(static_cast<unsigned char>(content[8 + b])) << (8 * b);
    header_start = 12;
  }
  if (content.size() < header_start + header_len)
    throw detail::file_error(path, "truncated .npy header");
  const std::string header = content.substr(header_start, header_len);
  const std::string descr = detail::npy_header_field(header, "descr");
  if (detail::npy_header_field(header, "fortran_order") == "True")
    throw detail::file_error(path, "Fortran-ordered arrays are not supported");

  Array array;
  std::stringstream dims(detail::npy_header_field(header, "shape"));
  std::string dim;
  size_t count = 1;
  while (std::getline(dims, dim, ',')) {
    if (dim.find_first_not_of(" ") == std::string::npos)
      continue;
    array.shape.push_back(std::stoll(dim));
    count *= static_cast<size_t>(array.shape.back());
  }
  const char *data = content.data() + header_start + header_len;
  const size_t available = content.size() - header_start - header_len;
  auto need = [&](size_t item) {
    if (available < count * item)
      throw detail::file_error(path, "truncated .npy data");
  };
  if (descr == "<f4") { need(4); detail::convert_to_float<float>(data, count, array.data); }
  else if (descr == "<f8") { need(8); detail::convert_to_float<double>(data, count, array.data); }
  else if (descr == "<i4") { need(4); detail::convert_to_float<int32_t>(data, count, array.data); }
  else if (descr == "<i8") { need(8); detail::convert_to_float<int64_t>(data, count, array.data); }
  else if (descr == "<i2") { need(2); detail::convert_to_float<int16_t>(data, count, array.data); }
  else if (descr == "|i1") { need(1); detail::convert_to_float<int8_t>(data, count, array.data); }
  else if (descr == "|u1" || descr == "|b1") { need(1); detail::convert_to_float<uint8_t>(data, count, array.data); }
  else
    throw detail::file_error(path, "unsupported .npy dtype '" + descr + "'");
  return array;
}

/// Reads a CSV of numbers, one sample per row (rows of equal length): shape [rows, cols].
inline Array read_csv(const std::string &path) {
  std::ifstream f(path);
  if (!f)
    throw detail::file_error(path, "cannot open file");
  Array array;
  std::string line;
  int64_t cols = -1, rows = 0;
  while (std::getline(f, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    std::stringstream cells(line);
    std::string cell;
    int64_t n = 0;
    while (std::getline(cells, cell, ',')) {
      try {
        array.data.push_back(std::stof(cell));
      } catch (const std::exception &) {
        throw detail::file_error(path, "row " + std::to_string(rows + 1) + ": '" + cell +
                                           "' is not a number");
      }
      ++n;
    }
    if (cols >= 0 && n != cols)
      throw detail::file_error(path, "row " + std::to_string(rows + 1) + " has " +
                                         std::to_string(n) + " values, expected " +
                                         std::to_string(cols));
    cols = n;
    ++rows;
  }
  array.shape = {rows, cols < 0 ? 0 : cols};
  return array;
}

inline bool ends_with(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Reads .npy or .csv by extension.
inline Array read_array(const std::string &path) {
  return ends_with(path, ".csv") ? read_csv(path) : read_npy(path);
}

/// Writes a float32 .npy file (format 1.0).
inline void write_npy(const std::string &path, const float *data,
                      const std::vector<int64_t> &shape) {
  // Python tuple syntax: "(5,)" for one dim, "(5, 3)" for more.
  std::string dims;
  size_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dims += (i ? ", " : "") + std::to_string(shape[i]);
    count *= static_cast<size_t>(shape[i]);
  }
  if (shape.size() == 1)
    dims += ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad so that magic + length + header is a multiple of 64, ending in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream f(path, std::ios::binary);
  if (!f)
    throw detail::file_error(path, "cannot create file");
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  f.write(len_bytes, 2);
  f << header;
  f.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(count * sizeof(float)));
  if (!f)
    throw detail::file_error(path, "write failed");
}

/// Writes one sample per row, `row_size` values per row, with 9 significant digits (exact for
/// float32 round trips).
inline void write_csv(const std::string &path, const float *data, int64_t rows, int64_t row_size) {
  std::ofstream f(path);
  if (!f)
    throw detail::file_error(path, "cannot create file");
  f.precision(9);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < row_size; ++c)
      f << (c ? "," : "") << data[r * row_size + c];
    f << '\n';
  }
  if (!f)
    throw detail::file_error(path, "write failed");
}

} // namespace kerasc
