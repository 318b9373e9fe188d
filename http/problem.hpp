#pragma once
// The one place where a domain error becomes HTTP: status, title and a problem+json body.
#include <string>
#include <string_view>

#include "domain/errors.hpp"

namespace cartd {

int http_status(error_code code);
const char* code_name(error_code code);
/// RFC 7807 body. A 5xx carries only a generic detail: what went wrong goes to the log.
std::string problem_body(const domain_error& e, std::string_view instance,
                         std::string_view request_id);

}  // namespace cartd
