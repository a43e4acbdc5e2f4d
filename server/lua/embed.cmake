# Embeds the Redis engine's Lua scripts (server/lua/*.lua) in the build, as
# server/CMakeLists.txt asks: cmake -DLUA_DIR=... -DSCRIPTS=a,b,... -DOUTPUT=...
# -P embed.cmake writes OUTPUT, a header with one string per script in
# namespace hearth::lua. A line `--#include NAME.lua` takes that file's code
# in its place; comment lines are left out (every EVAL sends the script).
function(lua_code file out)
  file(READ ${LUA_DIR}/${file} code)
  string(REGEX MATCHALL "--#include [a-z_]+\\.lua" includes "${code}")
  foreach(include IN LISTS includes)
    string(REPLACE "--#include " "" name "${include}")
    lua_code(${name} included)
    string(REPLACE "${include}" "${included}" code "${code}")
  endforeach()
  string(REGEX REPLACE "(^|\n)[ \t]*--[^\n]*" "" code "${code}")
  string(REGEX REPLACE "^\n+" "" code "${code}")
  set(${out} "${code}" PARENT_SCOPE)
endfunction()

set(header "// Generated from server/lua/*.lua by server/lua/embed.cmake: edit those.\n#pragma once\n\n")
string(APPEND header "namespace hearth::lua {\n")
string(REPLACE "," ";" scripts "${SCRIPTS}")
foreach(script IN LISTS scripts)
  lua_code(${script}.lua code)
  if(code MATCHES "\\)lua\"")
    message(FATAL_ERROR "${script}.lua holds the string's end marker")
  endif()
  string(APPEND header "\ninline constexpr const char* ${script} = R\"lua(\n${code})lua\";\n")
endforeach()
string(APPEND header "\n}  // namespace hearth::lua\n")
file(WRITE ${OUTPUT}.new "${header}")
file(COPY_FILE ${OUTPUT}.new ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.new)
