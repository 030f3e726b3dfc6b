__version__ = "0.1.0"

#: GitHub ``owner/name`` used in notebook badges and the Colab install cell.
#: One place: tests check every notebook's badges against it.
REPOSITORY = "merlib-project/merlib"
