/* narrate-espeak-worker IN_FD OUT_FD VOICE RATE_WPM: the eSpeak NG worker
 * process, started by the eSpeak NG engine. A separate small program so
 * that its per-chunk forks are cheap (see worker_path in espeak.c). */
#include <stdlib.h>

#include "narrate/voice.h"

int main(int argc, char **argv) {
    if (argc != 5)
        return 2;
    nr__espeak_worker_main(atoi(argv[1]), atoi(argv[2]), argv[3], atoi(argv[4]));
}
