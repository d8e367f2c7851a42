# The sources of flow_service_core, named once: service/CMakeLists.txt
# builds it and tests/fuzz/CMakeLists.txt compiles them again with the
# fuzzing flags.
set(FS_SERVICE_CORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/htab.c
  ${CMAKE_CURRENT_LIST_DIR}/store.c
  ${CMAKE_CURRENT_LIST_DIR}/store_graph.c
  ${CMAKE_CURRENT_LIST_DIR}/rules.c
  ${CMAKE_CURRENT_LIST_DIR}/access.c
  ${CMAKE_CURRENT_LIST_DIR}/svc.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_reply.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_read.c
  ${CMAKE_CURRENT_LIST_DIR}/listview.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_change.c
  ${CMAKE_CURRENT_LIST_DIR}/batch.c
  ${CMAKE_CURRENT_LIST_DIR}/watch.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_watch.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_watch_log.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_wait.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_repl.c
  ${CMAKE_CURRENT_LIST_DIR}/svc_stats.c
  ${CMAKE_CURRENT_LIST_DIR}/terms.c
  ${CMAKE_CURRENT_LIST_DIR}/repl_serve.c
  ${CMAKE_CURRENT_LIST_DIR}/repl_follow.c
  ${CMAKE_CURRENT_LIST_DIR}/repl_boot.c
  ${CMAKE_CURRENT_LIST_DIR}/repl_sync.c
  ${CMAKE_CURRENT_LIST_DIR}/persist.c
  ${CMAKE_CURRENT_LIST_DIR}/persist_base.c
  ${CMAKE_CURRENT_LIST_DIR}/logfmt.c
  ${CMAKE_CURRENT_LIST_DIR}/logreader.c
  ${CMAKE_CURRENT_LIST_DIR}/logwriter.c
  ${CMAKE_CURRENT_LIST_DIR}/snapshot.c
  ${CMAKE_CURRENT_LIST_DIR}/recovery.c
  ${CMAKE_CURRENT_LIST_DIR}/retention.c
  ${CMAKE_CURRENT_LIST_DIR}/datadir.c
  ${CMAKE_CURRENT_LIST_DIR}/compwire.c
  ${CMAKE_CURRENT_LIST_DIR}/crc32c.c)
