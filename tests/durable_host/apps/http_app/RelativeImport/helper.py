SUFFIX = "relative"
