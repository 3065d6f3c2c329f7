/* The nonewprivs test image's program (Kubernetes' e2e-test-images/nonewprivs): installed setuid
 * root, it prints the effective uid it runs with: 0 unless no_new_privs kept the caller's. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("Effective uid: %d\n", (int)geteuid());
	return 0;
}
