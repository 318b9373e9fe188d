# Turns http/openapi.json into a C++ source holding it as bytes.
file(READ ${IN} CONTENT HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," BYTES "${CONTENT}")
file(WRITE ${OUT} "#include <string_view>\nnamespace cartd {\nstatic const unsigned char k_openapi[] = {${BYTES} 0};\nstd::string_view openapi_document() {\n  return {reinterpret_cast<const char*>(k_openapi), sizeof k_openapi - 1};\n}\n}  // namespace cartd\n")
