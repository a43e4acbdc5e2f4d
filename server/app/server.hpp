// The whole server process: I/O threads, engine, rooms, listener, and a
// clean shutdown on SIGINT/SIGTERM (close 1001 to every client, then exit).
#pragma once

#include "app/config.hpp"

namespace hearth {

// Serves until SIGINT or SIGTERM. Prints "hearth listening on http://ADDR:PORT"
// to stdout once it accepts connections, and "hearth ready" once its storage
// is reachable. Returns the process exit code.
int run_server(const Config& config);

}  // namespace hearth
