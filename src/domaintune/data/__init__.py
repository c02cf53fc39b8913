"""Reading user data: tables in any common format, similarity pairs, taxonomies, shipped resources."""
