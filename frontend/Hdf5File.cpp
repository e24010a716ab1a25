#include "frontend/Hdf5File.h"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <limits>

#include <hdf5.h>
#include <hdf5_hl.h>

namespace kerasc {

namespace detail {

/// Owns one HDF5 identifier and releases it with the close function of its kind.
class Hdf5Id {
public:
  Hdf5Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Hdf5Id() {
    if (id_ >= 0)
      close_(id_);
  }
  Hdf5Id(const Hdf5Id &) = delete;
  Hdf5Id &operator=(const Hdf5Id &) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

struct Hdf5FileState {
  // `image` is declared first so it outlives `file`: HDF5 reads a memory image in place.
  std::vector<char> image;
  std::unique_ptr<Hdf5Id> file;
  std::string label;
};

} // namespace detail

namespace {

using detail::Hdf5FileState;
using detail::Hdf5Id;

/// HDF5 prints its error stack to stderr by default; readers report errors themselves.
/// The setting is per thread in thread-safe builds, so it is applied on every open.
void silenceHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

[[noreturn]] void failFile(const std::string &label, const std::string &message) {
  throw Error(label + ": " + message);
}

/// "float32", "int64", "uint8", ... for a numeric HDF5 type; empty for anything else.
std::string numpyDtypeName(hid_t type) {
  const size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
  case H5T_FLOAT:
    return "float" + std::to_string(bits);
  case H5T_INTEGER:
    return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
  default:
    return "";
  }
}

/// Frees the strings HDF5 allocated for a variable-length string read, even on exceptions.
class VlenStrings {
public:
  VlenStrings(hid_t memType, hid_t space, size_t count)
      : memType_(memType), space_(space), ptrs_(count, nullptr) {}
  ~VlenStrings() {
    if (read_)
      H5Dvlen_reclaim(memType_, space_, H5P_DEFAULT, ptrs_.data());
  }
  VlenStrings(const VlenStrings &) = delete;
  VlenStrings &operator=(const VlenStrings &) = delete;

  bool read(hid_t attr) {
    read_ = H5Aread(attr, memType_, ptrs_.data()) >= 0;
    return read_;
  }
  const std::vector<char *> &strings() const { return ptrs_; }

private:
  hid_t memType_;
  hid_t space_;
  std::vector<char *> ptrs_;
  bool read_ = false;
};

// File-image callbacks that let HDF5 use our buffer for its property-list and driver copies of
// a memory image: every "allocation" hands out the buffer itself and every "copy" is a no-op, so
// the image is never duplicated. The buffer is read-only here and owned by Hdf5FileState, so
// nothing is ever freed. (H5LTopen_file_image does the same but leaks its bookkeeping in
// HDF5 1.10.)
void *imageMalloc(size_t size, H5FD_file_image_op_t op, void *udata) {
  auto *image = static_cast<std::vector<char> *>(udata);
  if (op == H5FD_FILE_IMAGE_OP_FILE_RESIZE || size != image->size())
    return nullptr;
  return image->data();
}
void *imageMemcpy(void *dest, const void *src, size_t, H5FD_file_image_op_t, void *) {
  return dest == src ? dest : nullptr;
}
void *imageRealloc(void *, size_t, H5FD_file_image_op_t, void *) { return nullptr; }
herr_t imageFree(void *, H5FD_file_image_op_t, void *) { return 0; }
void *udataCopy(void *udata) { return udata; }
herr_t udataFree(void *) { return 0; }

} // namespace

// --- Hdf5File ---------------------------------------------------------------------------------

Hdf5File Hdf5File::open(const std::string &path) {
  silenceHdf5Errors();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    failFile(path, "file not found");
  auto state = std::make_shared<Hdf5FileState>();
  state->label = path;
  state->file =
      std::make_unique<Hdf5Id>(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!state->file->valid())
    failFile(state->label, "not an HDF5 file or corrupt");
  return Hdf5File(std::move(state));
}

Hdf5File Hdf5File::fromImage(std::vector<char> image, std::string label) {
  silenceHdf5Errors();
  auto state = std::make_shared<Hdf5FileState>();
  state->image = std::move(image);
  state->label = std::move(label);
  if (state->image.empty())
    failFile(state->label, "empty file, not an HDF5 file");

  // The core (in-memory) driver reads the image through the callbacks above, in place.
  Hdf5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5FD_file_image_callbacks_t callbacks = {imageMalloc, imageMemcpy, imageRealloc, imageFree,
                                           udataCopy,   udataFree,   &state->image};
  if (!fapl.valid() || H5Pset_fapl_core(fapl.get(), 1 << 16, /*backing_store=*/false) < 0 ||
      H5Pset_file_image_callbacks(fapl.get(), &callbacks) < 0 ||
      H5Pset_file_image(fapl.get(), state->image.data(), state->image.size()) < 0)
    failFile(state->label, "cannot set up HDF5 in-memory file access");
  // HDF5 identifies open files by name, so each image gets a distinct one.
  static std::atomic<unsigned long> imageCount{0};
  const std::string name = "kerasc-image-" + std::to_string(imageCount++);
  state->file =
      std::make_unique<Hdf5Id>(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!state->file->valid())
    failFile(state->label, "not an HDF5 file or corrupt");
  return Hdf5File(std::move(state));
}

const std::string &Hdf5File::label() const { return state_->label; }

Hdf5Group Hdf5File::root() const {
  auto id = std::make_shared<Hdf5Id>(H5Gopen2(state_->file->get(), "/", H5P_DEFAULT), H5Gclose);
  if (!id->valid())
    failFile(state_->label, "cannot open the root group (corrupt file)");
  return Hdf5Group(state_, std::move(id), "/");
}

// --- Hdf5Group --------------------------------------------------------------------------------

Hdf5Group::Hdf5Group(std::shared_ptr<const detail::Hdf5FileState> file,
                     std::shared_ptr<const detail::Hdf5Id> id, std::string path)
    : file_(std::move(file)), id_(std::move(id)), path_(std::move(path)) {}

void Hdf5Group::fail(const std::string &message) const { failFile(file_->label, message); }

std::string Hdf5Group::childPath(const std::string &relPath) const {
  return path_ == "/" ? "/" + relPath : path_ + "/" + relPath;
}

bool Hdf5Group::hasObject(const std::string &relPath, int type) const {
  // H5LTpath_valid checks every component, unlike H5Lexists which fails on a missing parent.
  if (relPath.empty() || H5LTpath_valid(id_->get(), relPath.c_str(), true) <= 0)
    return false;
  Hdf5Id object(H5Oopen(id_->get(), relPath.c_str(), H5P_DEFAULT), H5Oclose);
  return object.valid() && H5Iget_type(object.get()) == static_cast<H5I_type_t>(type);
}

bool Hdf5Group::hasGroup(const std::string &relPath) const { return hasObject(relPath, H5I_GROUP); }

bool Hdf5Group::hasDataset(const std::string &relPath) const {
  return hasObject(relPath, H5I_DATASET);
}

Hdf5Group Hdf5Group::group(const std::string &relPath) const {
  if (!hasGroup(relPath))
    fail("missing group '" + childPath(relPath) + "'");
  auto id = std::make_shared<Hdf5Id>(H5Gopen2(id_->get(), relPath.c_str(), H5P_DEFAULT), H5Gclose);
  if (!id->valid())
    fail("cannot open group '" + childPath(relPath) + "' (corrupt file)");
  return Hdf5Group(file_, std::move(id), childPath(relPath));
}

std::vector<std::string> Hdf5Group::childGroups() const {
  std::vector<std::string> names;
  auto collect = [](hid_t, const char *name, const H5L_info_t *, void *out) -> herr_t {
    try {
      static_cast<std::vector<std::string> *>(out)->emplace_back(name);
      return 0;
    } catch (...) { // an exception must not unwind through HDF5's C frames
      return -1;
    }
  };
  hsize_t index = 0;
  if (H5Literate(id_->get(), H5_INDEX_NAME, H5_ITER_INC, &index, collect, &names) < 0)
    fail("cannot list group '" + path_ + "' (corrupt file)");
  std::vector<std::string> groups;
  for (auto &name : names)
    if (hasGroup(name))
      groups.push_back(std::move(name));
  return groups;
}

WeightArray Hdf5Group::readArray(const std::string &relPath) const {
  const std::string where = "dataset '" + childPath(relPath) + "'";
  if (!hasDataset(relPath))
    fail("missing " + where);
  Hdf5Id dataset(H5Dopen2(id_->get(), relPath.c_str(), H5P_DEFAULT), H5Dclose);
  Hdf5Id space(dataset.valid() ? H5Dget_space(dataset.get()) : -1, H5Sclose);
  Hdf5Id type(dataset.valid() ? H5Dget_type(dataset.get()) : -1, H5Tclose);
  if (!space.valid() || !type.valid())
    fail("cannot open " + where + " (corrupt file)");

  WeightArray array;
  array.dtype = numpyDtypeName(type.get());
  if (array.dtype.empty())
    fail(where + " is not numeric (unsupported HDF5 type)");

  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0)
    fail("cannot read the shape of " + where + " (corrupt file)");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  size_t count = 1;
  for (hsize_t d : dims) {
    if (d != 0 && count > std::numeric_limits<size_t>::max() / sizeof(float) / d)
      fail(where + " is too large");
    count *= static_cast<size_t>(d);
    array.shape.push_back(static_cast<int64_t>(d));
  }
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL)
    count = 0;
  // A corrupt header can claim any shape. Unless compressed, the stored bytes must cover it;
  // checking first avoids allocating gigabytes for a damaged dataset of a few bytes.
  Hdf5Id createProps(H5Dget_create_plist(dataset.get()), H5Pclose);
  const size_t elementSize = H5Tget_size(type.get());
  if (!createProps.valid() || elementSize == 0)
    fail("cannot open " + where + " (corrupt file)");
  if (H5Pget_nfilters(createProps.get()) == 0 &&
      H5Dget_storage_size(dataset.get()) / elementSize < count)
    fail(where + " is truncated or corrupt (its shape needs more data than it stores)");

  array.data.resize(count);
  // HDF5 converts any integer or float type (and byte order) to native float on read.
  if (count > 0 && H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                           array.data.data()) < 0)
    fail("cannot read " + where + " (corrupt file)");
  return array;
}

std::optional<std::vector<std::string>> Hdf5Group::readStringArray(const std::string &name) const {
  const std::string where = "attribute '" + name + "' of '" + path_ + "'";
  const htri_t exists = H5Aexists(id_->get(), name.c_str());
  if (exists < 0)
    fail("cannot read the attributes of '" + path_ + "' (corrupt file)");
  if (exists == 0)
    return std::nullopt;

  Hdf5Id attr(H5Aopen(id_->get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  Hdf5Id type(attr.valid() ? H5Aget_type(attr.get()) : -1, H5Tclose);
  Hdf5Id space(attr.valid() ? H5Aget_space(attr.get()) : -1, H5Sclose);
  if (!type.valid() || !space.valid())
    fail("cannot open " + where + " (corrupt file)");
  const hssize_t points = H5Sget_simple_extent_npoints(space.get());
  if (points < 0)
    fail("cannot read the shape of " + where + " (corrupt file)");
  const auto count = static_cast<size_t>(points);

  std::vector<std::string> strings;
  if (H5Tget_class(type.get()) != H5T_STRING) {
    if (count == 0)
      return strings; // h5py stores an empty Python list as an empty float64 array
    fail(where + " is not a string");
  }

  if (H5Tis_variable_str(type.get()) > 0) {
    Hdf5Id memType(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(memType.get(), H5T_VARIABLE);
    H5Tset_cset(memType.get(), H5Tget_cset(type.get()));
    VlenStrings buffer(memType.get(), space.get(), count);
    if (!buffer.read(attr.get()))
      fail("cannot read " + where + " (corrupt file)");
    for (const char *s : buffer.strings())
      strings.emplace_back(s ? s : "");
  } else {
    const size_t width = H5Tget_size(type.get());
    if (width == 0 || count > std::numeric_limits<size_t>::max() / width)
      fail(where + " has an invalid size (corrupt file)");
    std::vector<char> buffer(count * width);
    if (!buffer.empty() && H5Aread(attr.get(), type.get(), buffer.data()) < 0)
      fail("cannot read " + where + " (corrupt file)");
    for (size_t i = 0; i < count; ++i) {
      const char *s = buffer.data() + i * width;
      strings.emplace_back(s, strnlen(s, width)); // fixed-length strings are NUL-padded
    }
  }
  return strings;
}

std::optional<std::string> Hdf5Group::stringAttribute(const std::string &name) const {
  auto strings = readStringArray(name);
  if (!strings)
    return std::nullopt;
  if (strings->size() != 1)
    fail("attribute '" + name + "' of '" + path_ + "' is not a single string");
  return std::move(strings->front());
}

std::optional<std::vector<std::string>>
Hdf5Group::stringListAttribute(const std::string &name) const {
  if (auto whole = readStringArray(name))
    return whole;
  std::optional<std::vector<std::string>> joined;
  for (int chunk = 0;; ++chunk) {
    auto part = readStringArray(name + std::to_string(chunk));
    if (!part)
      return joined;
    if (!joined)
      joined.emplace();
    joined->insert(joined->end(), part->begin(), part->end());
  }
}

} // namespace kerasc
