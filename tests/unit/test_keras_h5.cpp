// Keras 3 weight files written and read by generated programs (runtime/kerasc/keras_h5.h) and the
// .keras zip writer (runtime/kerasc/keras_archive.h).
//
// Besides checking, the "plus half" case leaves mlp_relu_softmax_plus_half.{weights.h5,keras} in
// $KERASC_LOAD_BACK_DIR (default: <temp>/kerasc_load_back) for tests/fixtures/check_keras_load.py,
// which loads them into real Keras (results: tests/fixtures/training/load_back/results.json).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zip.h>

#include <kerasc/atomic_file.h>
#include <kerasc/crc32.h>
#include <kerasc/keras_archive.h>
#include <kerasc/keras_h5.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#ifndef KERASC_SOURCE_DIR
#define KERASC_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using kerasc::TensorSlot;

namespace {

const fs::path kModelDir = fs::path(KERASC_SOURCE_DIR) / "tests/fixtures/models/mlp_relu_softmax";
const fs::path kReference =
    fs::path(KERASC_SOURCE_DIR) / "tests/fixtures/training/load_back/mlp_relu_softmax_weights.json";

/// A scratch directory per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("kerasc_test_keras_h5_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string &name) const { return (path / name).string(); }
  static int &counter() {
    static int n = 0;
    return n;
  }
};

/// Owns the storage behind a TensorSlot table (slots point into `storage` and `names`).
struct SlotTable {
  std::vector<std::vector<float>> storage;
  std::vector<std::string> names, paths;
  std::vector<TensorSlot> slots;

  void add(const std::string &name, const std::string &path, std::vector<int64_t> shape,
           std::vector<float> values) {
    names.push_back(name);
    paths.push_back(path);
    storage.push_back(std::move(values));
    TensorSlot s{};
    s.rank = static_cast<int>(shape.size());
    s.count = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
      s.shape[d] = shape[d];
      s.count *= shape[d];
    }
    s.trainable = true;
    slots.push_back(s);
    relink();
  }
  // Vectors may have moved: re-point every slot at its strings and data.
  void relink() {
    for (size_t i = 0; i < slots.size(); ++i) {
      slots[i].name = names[i].c_str();
      slots[i].keras_path = paths[i].empty() ? nullptr : paths[i].c_str();
      slots[i].data = storage[i].data();
    }
  }
  int size() const { return static_cast<int>(slots.size()); }
  /// The same table with every value set to `fill` (a fresh model to load into).
  SlotTable filled(float fill) const {
    SlotTable t = *this;
    for (auto &v : t.storage)
      std::fill(v.begin(), v.end(), fill);
    t.relink();
    return t;
  }
};

/// The Keras-written variables of mlp_relu_softmax, as recorded by check_keras_load.py reference.
SlotTable referenceTable() {
  std::ifstream in(kReference);
  REQUIRE(in.good());
  const auto j = nlohmann::json::parse(in);
  SlotTable t;
  for (const auto &v : j["variables"])
    t.add(v["name"], v["keras_path"], v["shape"].get<std::vector<int64_t>>(),
          v["values"].get<std::vector<float>>());
  return t;
}

bool bitIdentical(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Reads a vlen-string attribute with the HDF5 C API (independent of the code under test).
std::string nameAttribute(const std::string &file, const std::string &group) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hid_t g = H5Gopen2(f, group.c_str(), H5P_DEFAULT);
  std::string value = "<missing>";
  if (g >= 0 && H5Aexists(g, "name") > 0) {
    hid_t a = H5Aopen(g, "name", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    char *s = nullptr;
    if (H5Tis_variable_str(t) > 0 && H5Tget_cset(t) == H5T_CSET_UTF8 && H5Aread(a, t, &s) >= 0 &&
        s) {
      value = s;
      H5free_memory(s);
    }
    H5Tclose(t);
    H5Aclose(a);
  }
  if (g >= 0)
    H5Gclose(g);
  H5Fclose(f);
  return value;
}

/// All entries of a zip archive, read with libzip: (name, method, bytes), in archive order.
struct ZipMember {
  std::string name;
  int method;
  std::string bytes;
};
std::vector<ZipMember> readZipWithLibzip(const std::string &path) {
  int err = 0;
  zip_t *z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  REQUIRE(z != nullptr);
  std::vector<ZipMember> members;
  const zip_int64_t n = zip_get_num_entries(z, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    REQUIRE(zip_stat_index(z, static_cast<zip_uint64_t>(i), 0, &st) == 0);
    std::string bytes(st.size, '\0');
    zip_file_t *f = zip_fopen_index(z, static_cast<zip_uint64_t>(i), 0);
    REQUIRE(f != nullptr);
    REQUIRE(zip_fread(f, bytes.data(), st.size) == static_cast<zip_int64_t>(st.size));
    zip_fclose(f); // libzip checks the CRC on reading the whole entry
    members.push_back({st.name, static_cast<int>(st.comp_method), bytes});
  }
  zip_close(z);
  return members;
}

} // namespace

TEST_CASE("keras_h5: written slots read back bit-identically", "[keras_h5]") {
  TempDir dir;
  SlotTable t;
  t.add("hidden/kernel", "layers/dense/vars/0", {3, 4},
        {1.5f, -0.f, 3e-39f /*subnormal*/, 1e30f, -2.25f, 0.1f, 7, 8, 9, 10, 11, -12});
  t.add("hidden/bias", "layers/dense/vars/1", {4}, {0.5f, NAN, INFINITY, -1});
  t.add("norm/count", "layers/normalization/vars/2", {}, {42.f}); // rank 0: scalar dataspace
  t.add("unsaved/state", "", {2}, {5, 6});                        // keras_path nullptr: skipped
  t.add("optimizer/learning_rate", "optimizer/vars/1", {}, {0.001f});
  const kerasc::KerasH5Group groups[] = {{"layers/dropout", "drop"}, {"optimizer", "adam"}};
  kerasc::KerasH5SaveOptions options;
  options.model_name = "tiny";
  options.groups = groups;
  options.num_groups = 2;
  options.iterations_path = "optimizer/vars/0";
  options.iterations = 17;
  const std::string path = dir.file("m.weights.h5");
  std::string error;
  REQUIRE(kerasc::save_keras_weights_h5(path.c_str(), t.slots.data(), t.size(), options, &error));
  CHECK(error.empty());

  // Tolerance: none; every bit (NaN payload, -0, subnormals) must survive.
  SlotTable back = t.filled(-99.f);
  back.paths[3] = ""; // still skipped on reading
  back.relink();
  REQUIRE(kerasc::load_keras_weights_h5(path.c_str(), back.slots.data(), back.size(), &error));
  for (int i = 0; i < 3; ++i)
    CHECK(bitIdentical(back.storage[i], t.storage[i]));
  CHECK(bitIdentical(back.storage[4], t.storage[4]));
  CHECK(back.storage[3] == std::vector<float>{-99.f, -99.f}); // untouched

  // Keras's layout: @name on every vars group, empty groups for weightless layers, int32 counter.
  CHECK(nameAttribute(path, "layers/dense/vars") == "hidden");
  CHECK(nameAttribute(path, "layers/normalization/vars") == "norm");
  CHECK(nameAttribute(path, "layers/dropout/vars") == "drop");
  CHECK(nameAttribute(path, "vars") == "tiny");
  CHECK(nameAttribute(path, "optimizer/vars") == "adam");
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  CHECK(H5Lexists(f, "layers/unsaved", H5P_DEFAULT) == 0);
  hid_t d = H5Dopen2(f, "optimizer/vars/0", H5P_DEFAULT);
  REQUIRE(d >= 0);
  hid_t type = H5Dget_type(d), space = H5Dget_space(d);
  CHECK(H5Tequal(type, H5T_STD_I32LE) > 0);
  CHECK(H5Sget_simple_extent_type(space) == H5S_SCALAR);
  int32_t iterations = 0;
  H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, &iterations);
  CHECK(iterations == 17);
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(d);
  d = H5Dopen2(f, "layers/dense/vars/0", H5P_DEFAULT);
  type = H5Dget_type(d);
  CHECK(H5Tequal(type, H5T_IEEE_F32LE) > 0);
  H5Tclose(type);
  H5Dclose(d);
  H5Fclose(f);
  CHECK(readBytes(path).substr(0, 9) == std::string("\x89HDF\r\n\x1a\n\0", 9)); // superblock v0

  // Atomic: nothing but the file itself is left in the directory.
  int entries = 0;
  for (const auto &e : fs::directory_iterator(dir.path))
    entries += e.path().filename() == "m.weights.h5" ? 0 : 1;
  CHECK(entries == 0);
}

TEST_CASE("keras_h5: reads a Keras-written .weights.h5 and .keras", "[keras_h5]") {
  // Reference values were written by Keras (check_keras_load.py reference); tolerance: exact,
  // since both are the same float32 values (JSON holds them with round-trip precision).
  const SlotTable expected = referenceTable();
  REQUIRE(expected.size() == 5);
  for (const char *file : {"model.weights.h5", "model.keras"}) {
    SlotTable got = expected.filled(0.f);
    std::string error;
    const std::string path = (kModelDir / file).string();
    INFO(path);
    REQUIRE(kerasc::load_keras_weights(path.c_str(), got.slots.data(), got.size(), &error));
    for (int i = 0; i < got.size(); ++i)
      CHECK(bitIdentical(got.storage[i], expected.storage[i]));
  }
}

TEST_CASE("keras_h5: load errors name the file and variable and leave slots untouched",
          "[keras_h5]") {
  const std::string real = (kModelDir / "model.weights.h5").string();
  std::string error;

  SECTION("missing variable") {
    SlotTable t = referenceTable().filled(7.f);
    t.paths[4] = "layers/dense_2/vars/2";
    t.relink();
    CHECK_FALSE(kerasc::load_keras_weights_h5(real.c_str(), t.slots.data(), t.size(), &error));
    CHECK(error == real + ": missing variable 'layers/dense_2/vars/2' (probs/bias)");
    for (const auto &v : t.storage) // the four earlier variables were readable: still untouched
      CHECK(std::all_of(v.begin(), v.end(), [](float x) { return x == 7.f; }));
  }
  SECTION("missing layer group") {
    SlotTable t;
    t.add("x/kernel", "layers/conv2d/vars/0", {2}, {1, 2});
    CHECK_FALSE(kerasc::load_keras_weights_h5(real.c_str(), t.slots.data(), t.size(), &error));
    CHECK(error == real + ": missing variable 'layers/conv2d/vars/0' (x/kernel)");
  }
  SECTION("wrong shape") {
    SlotTable t = referenceTable().filled(7.f);
    t.slots[0].shape[0] = 16;
    t.slots[0].shape[1] = 8;
    CHECK_FALSE(kerasc::load_keras_weights_h5(real.c_str(), t.slots.data(), t.size(), &error));
    CHECK(error == real + ": variable 'layers/dense/vars/0' has shape (8, 16), the model expects "
                          "(16, 8) (hidden1/kernel)");
    CHECK(t.storage[0][0] == 7.f);
  }
  SECTION("wrong rank") {
    SlotTable t;
    t.add("probs/bias", "layers/dense_2/vars/1", {1, 4}, {0, 0, 0, 0});
    CHECK_FALSE(kerasc::load_keras_weights_h5(real.c_str(), t.slots.data(), t.size(), &error));
    CHECK(error == real + ": variable 'layers/dense_2/vars/1' has shape (4,), the model expects "
                          "(1, 4) (probs/bias)");
  }
  SECTION("not an HDF5 file") {
    TempDir dir;
    const std::string path = dir.file("text.weights.h5");
    std::ofstream(path) << "this is not HDF5\n";
    SlotTable t = referenceTable().filled(7.f);
    CHECK_FALSE(kerasc::load_keras_weights_h5(path.c_str(), t.slots.data(), t.size(), &error));
    CHECK(error == path + ": not an HDF5 file");
    CHECK_FALSE(kerasc::load_keras_weights(path.c_str(), t.slots.data(), t.size(), &error));
    CHECK(error == path + ": not an HDF5 file");
  }
  SECTION("truncated HDF5 file") {
    TempDir dir;
    const std::string path = dir.file("cut.weights.h5");
    const std::string bytes = readBytes(real);
    std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    SlotTable t = referenceTable().filled(7.f);
    CHECK_FALSE(kerasc::load_keras_weights_h5(path.c_str(), t.slots.data(), t.size(), &error));
    CHECK(error.rfind(path + ": ", 0) == 0);
    CHECK(t.storage[4][0] == 7.f);
  }
  SECTION("missing file") {
    SlotTable t = referenceTable();
    CHECK_FALSE(kerasc::load_keras_weights_h5("/nonexistent/x.weights.h5", t.slots.data(), t.size(),
                                              &error));
    CHECK(error == "/nonexistent/x.weights.h5: cannot open file");
  }
}

TEST_CASE("keras_h5: failed saves report and never replace an existing file", "[keras_h5]") {
  TempDir dir;
  const std::string path = dir.file("keep.weights.h5");
  std::ofstream(path) << "previous";
  std::string error;
  SlotTable dup;
  dup.add("a/kernel", "layers/dense/vars/0", {1}, {1});
  dup.add("b/kernel", "layers/dense/vars/0", {1}, {2});
  CHECK_FALSE(kerasc::save_keras_weights_h5(path.c_str(), dup.slots.data(), dup.size(), &error));
  CHECK(error == path + ": invalid or duplicate keras_path 'layers/dense/vars/0' for b/kernel");
  CHECK(readBytes(path) == "previous");
  CHECK_FALSE(
      kerasc::save_keras_weights_h5("/nonexistent/dir/x.weights.h5", dup.slots.data(), 1, &error));
  CHECK(error == "/nonexistent/dir/x.weights.h5: cannot create file");
}

TEST_CASE("atomic_file: temporary_path + commit_file_atomic replace a file whole", "[keras_h5]") {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  std::ofstream(path) << "previous";
  const std::string tmp = kerasc::temporary_path(path);
  CHECK(tmp.rfind(path + ".tmp-", 0) == 0);
  std::string error;
  // No temporary file: the commit fails, names the target, and leaves it alone.
  CHECK_FALSE(kerasc::commit_file_atomic(tmp, path, &error));
  CHECK(error.rfind(path + ": fsync failed: ", 0) == 0);
  CHECK(readBytes(path) == "previous");
  std::ofstream(tmp) << "new bytes";
  REQUIRE(kerasc::commit_file_atomic(tmp, path, &error));
  CHECK(readBytes(path) == "new bytes");
  CHECK_FALSE(std::filesystem::exists(tmp));
  REQUIRE(kerasc::write_file_atomic(path, std::string("third"), &error));
  CHECK(readBytes(path) == "third");
  CHECK_FALSE(std::filesystem::exists(tmp));
}

TEST_CASE("keras_archive: CRC-32 and a stored zip that libzip reads back", "[keras_h5]") {
  // Standard check value of CRC-32/ISO-HDLC.
  CHECK(kerasc::crc32("123456789", 9) == 0xCBF43926u);
  CHECK(kerasc::crc32("", 0) == 0u);

  TempDir dir;
  const std::string weights = (kModelDir / "model.weights.h5").string();
  const std::string config = readBytes((kModelDir / "model.json").string());
  const char *metadata = R"({"keras_version": "3.15.1", "date_saved": "2024-01-01@00:00:00"})";
  const std::string path = dir.file("m.keras");
  std::string error;
  REQUIRE(
      kerasc::write_keras_archive(path.c_str(), config.c_str(), metadata, weights.c_str(), &error));
  // Exact bytes, names, order and method (0 = stored), checked by an independent reader.
  const auto members = readZipWithLibzip(path);
  REQUIRE(members.size() == 3);
  CHECK(members[0].name == "metadata.json");
  CHECK(members[0].bytes == metadata);
  CHECK(members[1].name == "config.json");
  CHECK(members[1].bytes == config);
  CHECK(members[2].name == "model.weights.h5");
  CHECK(members[2].bytes == readBytes(weights));
  for (const auto &m : members)
    CHECK(m.method == ZIP_CM_STORE);

  // Our own stored-entry reader agrees with libzip on Keras's archive and ours.
  for (const std::string &archive : {path, (kModelDir / "model.keras").string()}) {
    std::vector<char> zip(readBytes(archive).size()), entry;
    const std::string bytes = readBytes(archive);
    zip.assign(bytes.begin(), bytes.end());
    for (const auto &m : readZipWithLibzip(archive)) {
      REQUIRE(kerasc::read_stored_zip_entry(zip, m.name, &entry, &error));
      CHECK(std::string(entry.begin(), entry.end()) == m.bytes);
    }
    CHECK_FALSE(kerasc::read_stored_zip_entry(zip, "assets/x", &entry, &error));
    CHECK(error == "zip archive has no member 'assets/x'");
  }
  CHECK_FALSE(kerasc::write_keras_archive(path.c_str(), "{}", "{}", "/nonexistent.h5", &error));
  CHECK(error == "/nonexistent.h5: cannot open file");
}

TEST_CASE("keras_h5: mlp_relu_softmax + 0.5 written for check_keras_load.py", "[keras_h5]") {
  // Writes the Keras model's weights + 0.5 as .weights.h5 and .keras; check_keras_load.py then
  // proves Keras loads them (predictions within 1e-6 of the expected model). Here: read back.
  SlotTable t = referenceTable();
  for (auto &v : t.storage)
    for (float &x : v)
      x += 0.5f;
  const char *env = std::getenv("KERASC_LOAD_BACK_DIR");
  const fs::path out = env ? fs::path(env) : fs::temp_directory_path() / "kerasc_load_back";
  fs::create_directories(out);
  const std::string weights = (out / "mlp_relu_softmax_plus_half.weights.h5").string();
  const std::string keras = (out / "mlp_relu_softmax_plus_half.keras").string();
  // The layer and model names Keras writes as @name, and the layers without variables (none
  // here: a Sequential has no input_layer group).
  const kerasc::KerasH5Group groups[] = {{"layers/dense", "hidden1"},
                                         {"layers/dense_1", "hidden2_nobias"},
                                         {"layers/dense_2", "probs"}};
  kerasc::KerasH5SaveOptions options;
  options.model_name = "mlp_relu_softmax";
  options.groups = groups;
  options.num_groups = 3;
  std::string error;
  REQUIRE(
      kerasc::save_keras_weights_h5(weights.c_str(), t.slots.data(), t.size(), options, &error));
  std::vector<char> original, config;
  REQUIRE(kerasc::archive_detail::read_whole_file((kModelDir / "model.keras").c_str(), &original,
                                                  &error));
  REQUIRE(kerasc::read_stored_zip_entry(original, "config.json", &config, &error));
  config.push_back('\0');
  REQUIRE(kerasc::write_keras_archive(
      keras.c_str(), config.data(),
      R"({"keras_version": "3.15.1", "date_saved": "2024-01-01@00:00:00"})", weights.c_str(),
      &error));
  for (const std::string &file : {weights, keras}) {
    SlotTable back = t.filled(0.f);
    REQUIRE(kerasc::load_keras_weights(file.c_str(), back.slots.data(), back.size(), &error));
    for (int i = 0; i < back.size(); ++i)
      CHECK(bitIdentical(back.storage[i], t.storage[i])); // tolerance: exact
  }
  CHECK(nameAttribute(weights, "layers/dense_1/vars") == "hidden2_nobias");
}
