/* The audio-device functions that Debian's static libespeak-ng.a refers to
 * (libpcaudio's), for the eSpeak NG worker alone. The worker initializes
 * eSpeak NG with AUDIO_OUTPUT_SYNCHRONOUS and takes the samples through a
 * callback, so eSpeak NG never opens a device; were it ever to try, every
 * call here fails as a machine without a sound card would. Linking these
 * instead of libpcaudio keeps PulseAudio, ALSA and X11 (30 shared
 * libraries) out of the process that forks once a chunk. Signatures from
 * pcaudiolib's audio.h. */
#include <stddef.h>
#include <stdint.h>

struct audio_object;

struct audio_object *create_audio_device_object(const char *device, const char *application,
                                                const char *description);
int audio_object_open(struct audio_object *o, int format, uint32_t rate, uint8_t channels);
void audio_object_close(struct audio_object *o);
void audio_object_destroy(struct audio_object *o);
int audio_object_write(struct audio_object *o, const void *data, size_t bytes);
int audio_object_drain(struct audio_object *o);
int audio_object_flush(struct audio_object *o);
const char *audio_object_strerror(struct audio_object *o, int error);

struct audio_object *create_audio_device_object(const char *device, const char *application,
                                                const char *description) {
    (void)device, (void)application, (void)description;
    return NULL;
}
int audio_object_open(struct audio_object *o, int format, uint32_t rate, uint8_t channels) {
    (void)o, (void)format, (void)rate, (void)channels;
    return -1;
}
void audio_object_close(struct audio_object *o) {
    (void)o;
}
void audio_object_destroy(struct audio_object *o) {
    (void)o;
}
int audio_object_write(struct audio_object *o, const void *data, size_t bytes) {
    (void)o, (void)data, (void)bytes;
    return -1;
}
int audio_object_drain(struct audio_object *o) {
    (void)o;
    return -1;
}
int audio_object_flush(struct audio_object *o) {
    (void)o;
    return -1;
}
const char *audio_object_strerror(struct audio_object *o, int error) {
    (void)o, (void)error;
    return "narrate's eSpeak NG worker has no audio device";
}
