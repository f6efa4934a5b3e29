/* Reference for scripts/bench-vs-libyaml.sh: read every libyaml event of each file named on
 * stdin (one path a line), the way a YAML loader must before it builds anything. Prints the
 * number of files, bytes and events; exits 1 if a file does not parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

int main(void) {
    char path[4096];
    unsigned long files = 0, events = 0, bytes = 0;
    while (fgets(path, sizeof path, stdin)) {
        path[strcspn(path, "\n")] = 0;
        if (!*path) continue;
        FILE *f = fopen(path, "rb");
        if (!f) { perror(path); return 1; }
        fseek(f, 0, SEEK_END);
        bytes += (unsigned long)ftell(f);
        rewind(f);
        yaml_parser_t parser;
        yaml_event_t event;
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, f);
        int done = 0;
        while (!done) {
            if (!yaml_parser_parse(&parser, &event)) {
                fprintf(stderr, "%s: %s\n", path, parser.problem ? parser.problem : "parse error");
                return 1;
            }
            done = event.type == YAML_STREAM_END_EVENT;
            yaml_event_delete(&event);
            events++;
        }
        yaml_parser_delete(&parser);
        fclose(f);
        files++;
    }
    printf("%lu files, %lu bytes, %lu events\n", files, bytes, events);
    return 0;
}
