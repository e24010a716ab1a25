#include "frontend/ZipArchive.h"

#include <filesystem>

#include <zip.h>

namespace kerasc {

namespace {

std::string libzipMessage(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

struct CloseEntry {
  void operator()(zip_file_t *file) const { zip_fclose(file); }
};

} // namespace

void ZipArchive::Close::operator()(zip *archive) const {
  zip_discard(archive); // read-only: nothing to write back
}

void ZipArchive::fail(const std::string &message) const { throw Error(path_ + ": " + message); }

ZipArchive::ZipArchive(const std::string &path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail("file not found");
  // libzip opens a zero-byte file as an empty archive; for a model file that is corruption.
  if (std::filesystem::file_size(path, ec) == 0 || ec)
    fail("not a valid zip archive (empty file)");

  int code = 0;
  zip_.reset(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!zip_) {
    if (code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_NOENT)
      fail("cannot open file: " + libzipMessage(code));
    fail("not a valid zip archive (truncated or corrupt): " + libzipMessage(code));
  }
}

bool ZipArchive::contains(const std::string &entry) const {
  return zip_name_locate(zip_.get(), entry.c_str(), 0) >= 0;
}

std::vector<char> ZipArchive::read(const std::string &entry) const {
  const zip_int64_t index = zip_name_locate(zip_.get(), entry.c_str(), 0);
  if (index < 0)
    fail("missing " + entry);

  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(zip_.get(), static_cast<zip_uint64_t>(index), 0, &stat) < 0 ||
      !(stat.valid & ZIP_STAT_SIZE))
    fail("cannot read " + entry + ": " + zip_strerror(zip_.get()));

  std::unique_ptr<zip_file_t, CloseEntry> file(
      zip_fopen_index(zip_.get(), static_cast<zip_uint64_t>(index), 0));
  if (!file)
    fail("cannot read " + entry + ": " + zip_strerror(zip_.get()));

  std::vector<char> bytes(static_cast<size_t>(stat.size));
  zip_uint64_t done = 0;
  while (done < stat.size) {
    const zip_int64_t n = zip_fread(file.get(), bytes.data() + done, stat.size - done);
    if (n <= 0)
      fail("cannot read " + entry + " (truncated or corrupt): " +
           (n < 0 ? zip_file_strerror(file.get()) : "unexpected end of data"));
    done += static_cast<zip_uint64_t>(n);
  }
  // One more read reaches end of stream, which is where libzip verifies the CRC.
  char extra;
  const zip_int64_t rest = zip_fread(file.get(), &extra, 1);
  if (rest != 0)
    fail("cannot read " + entry + " (corrupt): " +
         (rest < 0 ? zip_file_strerror(file.get()) : "more data than its recorded size"));
  return bytes;
}

} // namespace kerasc
