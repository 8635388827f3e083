//! Configuration files of the daemons a store runs, rendered from typed settings.
