#!/usr/bin/python3
"""cache_aside.py: cache-aside with invq, end to end, in Python. SQLite is
the source of truth, Redis the cache, examples/families.ini the policy.

  cache_aside.py DB.sqlite REDIS_URL init             create users(id, name), add user 42 "ada"
  cache_aside.py DB.sqlite REDIS_URL get ID           read user ID through the cache
  cache_aside.py DB.sqlite REDIS_URL rename ID NAME   UPDATE + COMMIT, then invalidate user:ID

The reader side reads "user:<id>" with Reader.fetch(): on a miss one reader
fleet-wide loads the row under a lease and fills the key with the TTL of
the family's class. The writer side commits, then hands invq a job deleting
"user:<id>"; an invq-worker applies it with DEL, which also voids any fill
racing it. The Python twin of producer/examples/cache_aside.c."""
import os
import sqlite3
import sys

import invq

FAMILIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "families.ini")


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    db_path, url, cmd = argv[1], argv[2], argv[3]
    db = sqlite3.connect(db_path)
    fams = invq.Families(FAMILIES)

    if cmd == "init":
        with db:
            db.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
            db.execute("INSERT OR REPLACE INTO users VALUES (42, 'ada')")
        return 0

    user_id = int(argv[4])
    key = fams.key("user", id=user_id)                       # "user:42", from the family's pattern

    if cmd == "get":
        def load():                                          # runs on a miss only
            row = db.execute("SELECT name FROM users WHERE id = ?", (user_id,)).fetchone()
            return row[0].encode() if row else None          # None: no such row (cached as negative)

        with invq.Reader(url, families=FAMILIES) as reader:  # TTLs from the class "standard"
            name = reader.fetch(key, load)
            print(name.decode() if name is not None else "(no such user)")
            st = reader.stats()
            print("hits=%d misses=%d loads=%d fills=%d fallbacks=%d"
                  % (st["hits"], st["misses"], st["loads"], st["fills"], st["fallbacks"]))
        return 0

    if cmd == "rename":
        with db:                                             # COMMIT at the end of the block ...
            db.execute("UPDATE users SET name = ? WHERE id = ?", (argv[5], user_id))
        # ... then invalidate. The spool keeps the job if Redis is unreachable.
        spool = os.path.join(os.path.dirname(os.path.abspath(db_path)), "invq-spool")
        os.makedirs(spool, exist_ok=True)
        with invq.Producer(url, spool_dir=spool, families=FAMILIES, source="cache-aside-example") as producer:
            print(producer.delete([key], family="user"))    # "sent" or "spooled"
        return 0

    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
