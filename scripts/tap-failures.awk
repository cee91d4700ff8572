# Prints each failed test of a TAP stream with its location and error, without the stack:
# the end of a failing `make test` says what failed, where CI shows only the last lines.
/^ *not ok / { shown = 1; lines = 0 }
/^ *ok / { shown = 0 }
shown && /^ *(stack:|\.\.\.$)/ { shown = 0 }
shown && lines++ < 16 && !/^ *(---|duration_ms:|failureType:)/ { print }
