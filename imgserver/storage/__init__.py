"""Result cache stores behind one Protocol: a local folder or an S3 bucket."""
