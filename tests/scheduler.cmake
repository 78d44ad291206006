# test_scheduler reads the MNIST IDX files with zlib directly.
if(TARGET test_scheduler)
  target_link_libraries(test_scheduler PRIVATE ZLIB::ZLIB)
endif()
