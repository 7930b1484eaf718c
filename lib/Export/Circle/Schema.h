//===- Schema.h - The generated FlatBuffer API of kiln_circle.fbs -*- C++
//-*-===//
//
// Private to lib/Export/Circle: the code flatc generates at build time from
// include/kiln/Export/Circle/schema/kiln_circle.fbs, namespace
// kiln::circle::fb.
//
//===----------------------------------------------------------------------===//
#ifndef KILN_LIB_EXPORT_CIRCLE_SCHEMA_H
#define KILN_LIB_EXPORT_CIRCLE_SCHEMA_H

#include "kiln/Export/Circle/kiln_circle_generated.h"

#endif
