/* tools/convert: `heapprof convert PROFILE --to text|pprof [-o OUT]`. */
#ifndef HPT_CONVERT_H
#define HPT_CONVERT_H

int convert_main(int argc, char **argv);

#endif
