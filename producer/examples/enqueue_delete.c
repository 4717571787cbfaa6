/* enqueue_delete: queue one job that deletes the keys given on the command
 * line, using only the installed <invq/invq.h>.
 *
 *   enqueue_delete redis://127.0.0.1:6379 user:42 user:42:profile
 */
#include <stdio.h>

#include <invq/invq.h>

int main(int argc, char **argv)
{
    invq_options o;
    invq_producer *p;
    char err[256];
    int rc;

    if (argc < 3) {
        fprintf(stderr, "usage: %s REDIS_URL KEY...\n", argv[0]);
        return 2;
    }
    invq_options_init(&o);
    o.url = argv[1];
    if ((rc = invq_producer_new(&o, &p, err, sizeof(err))) < 0) {
        fprintf(stderr, "invq_producer_new: %s: %s\n", invq_strerror(rc), err);
        return 1;
    }
    rc = invq_delete_keys(p, (const void *const *)(argv + 2), NULL, (size_t)(argc - 2));
    if (rc < 0)
        fprintf(stderr, "invq_delete_keys: %s: %s\n", invq_strerror(rc), invq_producer_errstr(p));
    else
        printf("%s: %d key(s)\n", rc == INVQ_SPOOLED ? "spooled" : "sent", argc - 2);
    invq_producer_free(p);
    return rc < 0 ? 1 : 0;
}
