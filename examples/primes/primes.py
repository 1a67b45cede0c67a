"""The Jug tutorial's first example: which numbers from 2 to 100 are prime?

    jug status primes.py          # 99 tasks ready
    jug execute primes.py &       # start as many as you have cores
    jug status primes.py          # watch them finish
"""

from time import sleep

from jug import TaskGenerator


@TaskGenerator
def is_prime(n):
    sleep(0.05)
    for j in range(2, n - 1):
        if (n % j) == 0:
            return False
    return True


primes100 = list(map(is_prime, range(2, 101)))
