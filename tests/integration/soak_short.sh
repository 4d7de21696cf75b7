# soak_short.sh - the soak of tests/soak/run.sh cut to fit `make check`:
# up to 1,500 sequence-numbered messages per phase from 3 publishers to 1
# recipient, the broker SIGKILLed every 1-3 s in phase 1 and the recipient
# node in phase 2, each phase's publishing bounded to 25 s (the whole test
# to about a minute and a half on a loaded 2-core machine). The same pass
# rule: acknowledged lost 0, unexpected 0, duplicates shown to the user 0.
export SOAK_COUNT=${SOAK_COUNT:-1500}
export SOAK_TIME=${SOAK_TIME:-25}
export SOAK_MIN=${SOAK_MIN:-100}
export SOAK_DRAIN=${SOAK_DRAIN:-120}
exec bash "$(dirname "$0")/../soak/run.sh" "${CERTBUS_BIN:-$(dirname "$0")/../../build}"
