"""Models of the course, one module per family (``lenet``, ``alexnet``, ``mlp``, ``modern``)."""
