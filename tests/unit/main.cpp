// The one main() of the unit-test executable; every tests/unit/test_*.cpp only holds TEST_CASEs.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
