# The sources of proto/'s two libraries, named once: proto/CMakeLists.txt
# builds them and tests/fuzz/CMakeLists.txt compiles them again with the
# fuzzing flags. Paths are absolute so that either may include this file.
set(FS_PROTO_CLIENT_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/fs_errors.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_methods.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_util.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_rpc_client.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_rpc_coalesce.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_rpc_spread.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_rpc_ryw.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_tls.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_rpc_watch.c)
set(FS_PROTO_SERVER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/fs_log.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_opts.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_rpc_server.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_srv_tlswatch.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_srv_pipes.c
  ${CMAKE_CURRENT_LIST_DIR}/fs_within.c)
