"""Models of the course, one module per family (``lenet``, ``alexnet``, ``mlp``, ``modern``)."""

__all__ = ["alexnet", "lenet", "mlp", "modern"]
