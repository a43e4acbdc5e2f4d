// hearth-server: serve, or `hearth-server token ...` to mint a token, or
// `hearth-server crisis-check ...` to try the crisis rules.
#include <csignal>
#include <cstring>
#include <exception>
#include <iostream>

#include "app/config.hpp"
#include "app/server.hpp"
#include "protocol/codec.hpp"

int main(int argc, char* argv[]) {
  // A closed stdout (a parent that stopped reading) must not kill the server;
  // sockets use MSG_NOSIGNAL already.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    if (argc > 1 && std::strcmp(argv[1], "token") == 0) return hearth::run_token_command(argc - 1, argv + 1);
    if (argc > 1 && std::strcmp(argv[1], "crisis-check") == 0) {
      return hearth::run_crisis_check_command(argc - 1, argv + 1);
    }
    int exit_code = 0;
    const auto config = hearth::parse_config(argc, argv, exit_code);
    if (!config) return exit_code;
    hearth::quiet_protobuf_logging();
    return hearth::run_server(*config);
  } catch (const std::exception& e) {
    std::cerr << "hearth-server: " << e.what() << "\n";
    return 1;
  }
}
