import ub

print("ub: flag_mask(3) =", ub.flag_mask(3))
print("ub: flag_mask(40) =", ub.flag_mask(40))
