define double @"law"(double %".1", double %".2")
{
entry:
  %".4" = fmul double %".1", %".1"
  %".5" = fmul double 0x3fe0000000000000, %".4"
  %".6" = call double @"llvm.cos.f64"(double %".1")
  %".7" = fmul double 0xbff0000000000000, %".2"
  %".8" = call double @"llvm.exp.f64"(double %".7")
  %".9" = fmul double %".6", %".8"
  %".10" = fadd double %".5", %".9"
  ret double %".10"
}
