policy
    rule = a
        sender
            tier = national
        kind = *
        audience = *
