"""The names of cwfast's audio tasks, in a module that imports nothing, so that the command line can
list them without loading NumPy. What each mode does is :mod:`cwfast.tasks`."""

#: memorize: emit one clip from the clock alone; autoregressive: predict the next sample;
#: effect: map a dry input to a processed output.
MODES = ("memorize", "autoregressive", "effect")
