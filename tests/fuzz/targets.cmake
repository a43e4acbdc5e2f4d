# The fuzz targets and the sources of each, relative to tests/fuzz: read by
# the libFuzzer build (CMakeLists.txt here) and by the replay build
# (replay/CMakeLists.txt), so that both build the same targets.
set(hearth_fuzz_targets command_fuzzer crisis_fuzzer log_fuzzer session_fuzzer token_fuzzer ws_reader_fuzzer)
set(hearth_fuzz_command_fuzzer_sources command_fuzzer.cpp)
set(hearth_fuzz_crisis_fuzzer_sources crisis_fuzzer.cpp)
set(hearth_fuzz_log_fuzzer_sources log_fuzzer.cpp privacy_watch.cpp room_choices.cpp)
set(hearth_fuzz_session_fuzzer_sources session_fuzzer.cpp privacy_watch.cpp room_choices.cpp)
set(hearth_fuzz_token_fuzzer_sources token_fuzzer.cpp)
set(hearth_fuzz_ws_reader_fuzzer_sources ws_reader_fuzzer.cpp)
