"""Analysis of tidy result frames: the papers' rate lines (:mod:`.theory`) and pure summaries (:mod:`.summaries`)."""
