<!-- {{NARRATE_TOKEN}} -->
